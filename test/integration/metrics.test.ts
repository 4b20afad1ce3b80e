/**
 * GET /metrics on the running platform: a device publishes one good and one malformed message, and
 * the ingest counters (served by the api in the same process) show the committed row and the reject.
 * On a shared broker ingest also takes others' traffic on the device topics (retained statuses of
 * other fleets, say), which it refuses as unknown devices: there the counters are held against the
 * platform's own database rather than against fixed totals.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import { topics } from '../../shared/protocol.ts';
import { engineName, realBroker } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const d = {
  deviceId: `P${run}-1`,
  token: `token-${run}-1`.padEnd(32, '0'),
  machine: {
    id: `MP${run}-1`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `SP${run}-1`,
    year: 2022,
  },
};

/** Prometheus's scrape token (without one, /metrics is off on PostgreSQL). */
const METRICS_TOKEN = 'metrics-test-token-0123456789';

describe(`metrics endpoint on ${engineName}`, () => {
  let platform: TestPlatform;
  let client: MqttClient | null = null;

  beforeAll(async () => {
    platform = await startTestPlatform({ METRICS_TOKEN });
    await provisionDevices(platform.db, [d]);
  });
  afterAll(async () => {
    await client?.endAsync(true);
    await platform?.teardown();
  });

  const scrape = async () => {
    const res = await fetch(`${platform.url}/metrics`, {
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(res.status).toBe(200);
    return { contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  };
  /** The value of one series (name with its labels, as printed), or undefined. */
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const ingestLines = (text: string) => text.split('\n').filter((l) => l.startsWith('ingest_'));

  it('serves process metrics in the Prometheus text format', async () => {
    const { contentType, text } = await scrape();
    expect(contentType).toMatch(/^text\/plain/);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^ingest_rows_committed_total 0$/m);
    expect(text).toMatch(realBroker ? /^ingest_queue_depth \d+$/m : /^ingest_queue_depth 0$/m);
  });

  it('counts a committed row and a malformed reject', async () => {
    client = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: d.deviceId,
      username: d.deviceId,
      password: d.token,
      reconnectPeriod: 0,
    });
    await client.publishAsync(
      topics.telemetry(d.deviceId),
      JSON.stringify({ v: 1, seq: 1, ts: Date.now() - 1000, lat: 31.2304, lon: 121.4737 }),
      { qos: 1 },
    );
    await client.publishAsync(topics.telemetry(d.deviceId), '{"v":1,"ts":', { qos: 1 });

    const db = platform.db;
    const ownRejects = async () =>
      (
        await db.query<{ reason: string }>('select reason from ingest_rejects where device_id = $1', [
          d.deviceId,
        ])
      ).rows;
    // Settled: both messages are in, and every message taken has been committed. The dead letters
    // in the database, read between two equal scrapes, are those the counters count.
    const { text, rejects } = await waitFor(
      async () => {
        const { text } = await scrape();
        if (value(text, 'ingest_rows_committed_total') !== 1 || (await ownRejects()).length === 0)
          return null;
        const received = value(text, 'ingest_messages_received_total');
        if (received !== value(text, 'ingest_batch_size_sum')) return null;
        const { rows: rejects } = await db.query<{ reason: string; n: number }>(
          'select reason, count(*)::int as n from ingest_rejects group by reason',
        );
        const again = (await scrape()).text;
        return ingestLines(again).join('\n') === ingestLines(text).join('\n') ? { text, rejects } : null;
      },
      { what: 'the committed row and the reject in /metrics' },
    );
    expect(await ownRejects()).toEqual([{ reason: 'malformed_json' }]);
    const { rows: stored } = await db.query<{ n: number }>('select count(*)::int as n from telemetry');
    expect(value(text, 'ingest_rows_committed_total')).toBe(stored[0]!.n);
    for (const { reason, n } of rejects) {
      expect(value(text, `ingest_rejects_total{reason="${reason}"}`), reason).toBe(n);
    }
    expect(value(text, 'ingest_rejects_total{reason="malformed_json"}')).toBe(1);
    expect(text).toMatch(/^ingest_batch_failures_total 0$/m);
    if (realBroker) {
      // This device's two messages, and whatever others sent on the device topics meanwhile.
      expect(value(text, 'ingest_messages_received_total')).toBeGreaterThanOrEqual(2);
      expect(value(text, 'ingest_commit_seconds_count')).toBeGreaterThanOrEqual(1);
    } else {
      expect(text).toMatch(/^ingest_messages_received_total 2$/m);
      expect(text).toMatch(/^ingest_batch_size_sum 2$/m);
      expect(text).toMatch(/^ingest_commit_seconds_count [12]$/m);
    }
  });
});
