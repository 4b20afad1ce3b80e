/**
 * GET /metrics on the running platform: a device publishes one good and one malformed message, and
 * the ingest counters (served by the api in the same process) show the committed row and the reject.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/registry.ts';
import { topics } from '../../shared/protocol.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const d = {
  deviceId: `P${run}-1`,
  token: `token-${run}-1`,
  machine: {
    id: `MP${run}-1`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `SP${run}-1`,
    year: 2022,
  },
};

describe(`metrics endpoint on ${engineName}`, () => {
  let platform: TestPlatform;
  let client: MqttClient | null = null;

  beforeAll(async () => {
    platform = await startTestPlatform();
    await provisionDevices(platform.db, [d]);
  });
  afterAll(async () => {
    await client?.endAsync(true);
    await platform?.teardown();
  });

  const scrape = async () => {
    const res = await fetch(`${platform.url}/metrics`);
    expect(res.status).toBe(200);
    return { contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  };

  it('serves process metrics in the Prometheus text format', async () => {
    const { contentType, text } = await scrape();
    expect(contentType).toMatch(/^text\/plain/);
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^ingest_rows_committed_total 0$/m);
    expect(text).toMatch(/^ingest_queue_depth 0$/m);
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

    const text = await waitFor(
      async () => {
        const { text } = await scrape();
        return /^ingest_rows_committed_total 1$/m.test(text) &&
          /^ingest_rejects_total\{reason="malformed_json"\} 1$/m.test(text)
          ? text
          : null;
      },
      { what: 'the committed row and the reject in /metrics' },
    );
    expect(text).toMatch(/^ingest_messages_received_total 2$/m);
    expect(text).toMatch(/^ingest_batch_failures_total 0$/m);
    expect(text).toMatch(/^ingest_batch_size_sum 2$/m);
    expect(text).toMatch(/^ingest_commit_seconds_count [12]$/m);
  });
});
