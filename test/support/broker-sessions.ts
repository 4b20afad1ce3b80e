/**
 * Names and clean-up for what a test leaves on a real broker. Mosquitto keeps a persistent session
 * (clean session false) that was never cleaned up forever by default, and keeps handing an absent
 * member of a shared-subscription group its share of the group's messages: a fixed group or client
 * id would let sessions left by earlier runs (a SIGKILL, a crash) take this run's messages. So every
 * run uses its own names, and removes the sessions it made on purpose.
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';

/** Unique to this test run: `<prefix>-t<pid><random>`, a valid client id and a single topic level. */
export function runUnique(prefix: string): string {
  return `${prefix}-t${process.pid}${randomBytes(4).toString('hex')}`;
}

/** A client id and share group of an ingest worker that no other run uses. */
export function uniqueIngestIdentity(prefix = 'ingest'): { clientId: string; shareGroup: string } {
  const name = runUnique(prefix);
  return { clientId: name, shareGroup: name };
}

/**
 * Removes persistent sessions (deploy/cluster/sessions.ts): only once the session's owner is gone —
 * connecting with the id of a live client takes the connection over, and a client that reconnects
 * on its own would make the session again.
 */
export { forgetSessions } from '../../deploy/cluster/sessions.ts';

/**
 * Forgets simulated boxes on a broker: each logs in as itself with a clean session (removing its
 * persistent session) and clears its retained status (an empty retained message deletes it), so
 * later runs neither queue for it nor hear its `offline` as a device they do not know.
 */
export async function forgetDevices(
  url: string,
  devices: { deviceId: string; token: string }[],
): Promise<void> {
  for (const d of devices) {
    const c = await mqtt.connectAsync(url, {
      clientId: d.deviceId,
      username: d.deviceId,
      password: d.token,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    await c.publishAsync(`devices/${d.deviceId}/status`, '', { qos: 1, retain: true });
    await c.endAsync();
  }
}
