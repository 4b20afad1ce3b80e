/**
 * An alert reaches browsers live, end to end: a box publishes a power-cut report over MQTT, ingest
 * commits it with the alert it raises, announces the alert on the broker, and the api pushes it as
 * `alerts:update`; an acknowledgement over HTTP is pushed the same way. Embedded or real engines.
 */
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { AlertView } from '../../shared/alerts.ts';
import type { ServerToClientEvents } from '../../shared/live.ts';
import { topics } from '../../shared/protocol.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const d = {
  deviceId: `AL${run}`,
  token: `token-alerts-live-${run}`.padEnd(32, '0'),
  machine: {
    id: `MAL${run}`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `PAL${run}`,
    year: 2022,
  },
};

describe(`alerts pushed live on ${engineName}`, () => {
  let platform: TestPlatform;
  let socket: Socket<ServerToClientEvents>;
  const pushed: AlertView[] = [];

  beforeAll(async () => {
    platform = await startTestPlatform();
    await provisionDevices(platform.db, [d]);
    const { token } = await signedInAs(platform.url as string, platform.db, 'recovery_agent');
    socket = io(platform.url as string, { transports: ['websocket'], auth: { token } });
    socket.on('alerts:update', (a) => pushed.push(...a));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
  });
  afterAll(async () => {
    socket?.close();
    await platform?.teardown();
  });

  it('a power cut from the box is raised once, pushed, listed and acknowledged live', async () => {
    const device = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: d.deviceId,
      username: d.deviceId,
      password: d.token,
      reconnectPeriod: 0,
    });
    const now = Date.now() - 60_000;
    for (const [i, cut] of [false, true, true].entries()) {
      await device.publishAsync(
        topics.telemetry(d.deviceId),
        JSON.stringify({
          v: 1,
          ts: now + i * 10_000,
          lat: 34.2,
          lon: 117.2,
          pwr: cut ? 0 : 25,
          ...(cut ? { alm: ['powerCut'] } : {}),
        }),
        { qos: 1 },
      );
    }
    await device.endAsync();
    await waitFor(async () => pushed.some((a) => a.deviceId === d.deviceId), {
      what: 'alerts:update for the power cut',
    });
    const mine = pushed.filter((a) => a.deviceId === d.deviceId);
    expect(mine.map((a) => [a.kind, a.status])).toEqual([['power_cut', 'open']]);
    expect(mine[0]!.raisedAt).toBe(new Date(now + 10_000).toISOString());

    const agent = await signedInAs(platform.url as string, platform.db, 'recovery_agent');
    const listed = await fetch(`${platform.url}/api/alerts?deviceId=${d.deviceId}`, {
      headers: authHeader(agent.token),
    });
    const alerts = (await listed.json()) as AlertView[];
    expect(alerts.map((a) => a.id)).toEqual([mine[0]!.id]);
    const ack = await fetch(`${platform.url}/api/alerts/${mine[0]!.id}/acknowledge`, {
      method: 'POST',
      headers: { ...authHeader(agent.token), 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'on the way' }),
    });
    expect(ack.status).toBe(200);
    await waitFor(
      async () => pushed.some((a) => a.id === mine[0]!.id && a.acknowledgedNote === 'on the way'),
      {
        what: 'alerts:update for the acknowledgement',
      },
    );
  });
});
