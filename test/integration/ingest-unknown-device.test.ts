/**
 * Ingest stores telemetry only for devices in the registry. A message for any other device id (a
 * service account publishing on a device topic, a device deleted while its messages were queued)
 * becomes one dead letter `unknown_device` with topic, receive time and the payload's first bytes,
 * and is counted in ingest_rejects_total.
 * The worker runs against an open broker (aedes in process, or MQTT_URL) so that the test can
 * publish as a device that does not exist; the database is PGlite or a scratch DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { startIngest } from '../../ingest/worker.ts';
import { topics } from '../../shared/protocol.ts';
import { engineName, realBroker, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { startBroker } from '../support/sim-broker.ts';
import { waitFor } from '../support/wait.ts';

const tag = randomBytes(3).toString('hex');
const known = `U${tag}-known`;
const unknown = `U${tag}-ghost`;
const deleted = `U${tag}-deleted`;
const provision = (deviceId: string, i: number) => ({
  deviceId,
  token: `token-${tag}-${i}`.padEnd(32, '0'),
  machine: {
    id: `MU${tag}-${i}`,
    make: 'XCMG',
    model: 'XE215',
    type: 'excavator',
    serial: `SU${tag}-${i}`,
    year: 2021,
  },
});
const report = (seq: number) =>
  JSON.stringify({ v: 1, seq, ts: Date.now() - 60_000 + seq, lat: 34.75, lon: 113.62, fix: true });

describe(`ingest rejects unknown devices on ${engineName}`, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  });

  it('stores known devices, dead-letters the others with evidence, and counts them', async () => {
    const scratch: ScratchDatabase = await scratchDatabase();
    cleanups.push(() => scratch.drop());
    const db: Database = await scratch.open();
    cleanups.push(() => db.close());
    await migrate(db);
    await provisionDevices(db, [provision(known, 1), provision(deleted, 2)]);

    let url = realBroker;
    if (!url) {
      const broker = await startBroker();
      cleanups.push(() => broker.close());
      url = broker.url;
    }
    const metrics = new Registry();
    const clientId = `ingest-unknown-${tag}`;
    const worker = await startIngest({
      db,
      mqttUrl: url,
      clientId,
      shareGroup: realBroker ? `ingest-unknown-${tag}` : null,
      logger: pino({ level: 'silent' }),
      maxPayloadBytes: 65536,
      maxClockSkewMs: 300_000,
      metrics,
    });
    cleanups.push(async () => {
      await worker.stop();
      const c = await mqtt.connectAsync(url!, { clientId, clean: true });
      await c.endAsync();
    });

    const publisher = await mqtt.connectAsync(url, { clientId: `pub-unknown-${tag}`, clean: true });
    cleanups.push(() => publisher.endAsync(true));
    await publisher.publishAsync(topics.telemetry(known), report(1), { qos: 1 });
    await publisher.publishAsync(topics.telemetry(deleted), report(1), { qos: 1 });
    await waitFor(async () => (await telemetryOf(db, deleted)) === 1, { what: 'the first report stored' });

    // The device leaves the registry; what is still on its way for it must not be stored.
    await db.query('delete from installation where device_id = $1', [deleted]);
    await db.query('delete from device where id = $1', [deleted]);
    const backlog = JSON.stringify([JSON.parse(report(3)), JSON.parse(report(2))]);
    const ghostReport = report(1);
    await publisher.publishAsync(topics.telemetry(unknown), ghostReport, { qos: 1 });
    await publisher.publishAsync(topics.telemetry(unknown), backlog, { qos: 1 });
    await publisher.publishAsync(topics.status(unknown), 'online', { qos: 1 });
    await publisher.publishAsync(topics.telemetry(deleted), report(2), { qos: 1 });
    await publisher.publishAsync(topics.telemetry(known), report(2), { qos: 1 });

    const rejects = await waitFor(
      async () => {
        const { rows } = await db.query<{
          topic: string;
          device_id: string;
          reason: string;
          detail: string;
          payload: string;
          received_at: Date;
        }>(
          `select topic, device_id, reason, detail, payload, received_at from ingest_rejects
           where device_id like $1 order by id`,
          [`U${tag}-%`],
        );
        return rows.length === 4 && (await telemetryOf(db, known)) === 2 ? rows : null;
      },
      { timeoutMs: 15_000, what: 'four dead letters and two stored reports' },
    );
    expect(rejects.map((r) => [r.topic, r.reason])).toEqual([
      [topics.telemetry(unknown), 'unknown_device'],
      [topics.telemetry(unknown), 'unknown_device'],
      [topics.status(unknown), 'unknown_device'],
      [topics.telemetry(deleted), 'unknown_device'],
    ]);
    expect(rejects[0]!.payload).toBe(ghostReport);
    // A backlog array is one message, so one dead letter holding the whole array.
    expect(rejects[1]!.payload).toBe(backlog);
    expect(rejects[2]!.payload).toBe('online');
    expect(rejects[0]!.detail).toContain(unknown);
    for (const r of rejects)
      expect(Math.abs(new Date(r.received_at).getTime() - Date.now())).toBeLessThan(60_000);

    expect(await telemetryOf(db, unknown)).toBe(0);
    expect(await telemetryOf(db, deleted)).toBe(1);
    const status = await db.query('select 1 from device_status where device_id = $1', [unknown]);
    expect(status.rows).toHaveLength(0);
    const latest = await db.query('select 1 from latest_position where device_id = $1', [unknown]);
    expect(latest.rows).toHaveLength(0);

    // Counted by reason: the counter matches the dead letters written (on a shared broker the worker
    // also meets other runs' devices, so the total is taken from the database, not assumed to be 4).
    const text = await metrics.metrics();
    const counted = Number(/^ingest_rejects_total\{reason="unknown_device"\} (\d+)$/m.exec(text)?.[1]);
    const { rows: written } = await db.query<{ n: number }>(
      `select count(*)::int as n from ingest_rejects where reason = 'unknown_device'`,
    );
    expect(counted).toBeGreaterThanOrEqual(4);
    expect(counted).toBe(written[0]!.n);
    expect(text).toMatch(/^ingest_batch_failures_total 0$/m);
  });
});

async function telemetryOf(db: Database, deviceId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'select count(*)::int as n from telemetry where device_id = $1',
    [deviceId],
  );
  return rows[0]!.n;
}
