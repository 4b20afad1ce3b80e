import { afterEach, describe, expect, it } from 'vitest';
import { parseTelemetryMessage } from '../../shared/protocol.ts';
import { runLoad } from '../../simulators/load.ts';
import { listen, startBroker, type TestBroker } from '../support/sim-broker.ts';

let broker: TestBroker | null = null;
afterEach(async () => {
  await broker?.close();
  broker = null;
});

describe('load generator', () => {
  it('publishes valid telemetry as fast as QoS 1 acknowledgements come back', async () => {
    broker = await startBroker();
    const platform = await listen(broker.url);
    const result = await runLoad({ mqttUrl: broker.url, devices: 40, rate: null, qos: 1, durationS: 1 });
    expect(result).toMatchObject({ connections: 40, failed: 0 });
    expect(result.done).toBe(result.sent);
    expect(result.rate).toBeGreaterThan(100);
    const sample = platform.heard.filter((h) => h.topic.endsWith('/telemetry')).slice(0, 200);
    expect(sample.length).toBeGreaterThan(0);
    expect(sample.flatMap((h) => parseTelemetryMessage(h.payload).rejected)).toEqual([]);
    await platform.client.endAsync(true);
  });

  it('holds a set rate, also over fewer connections than devices', async () => {
    broker = await startBroker();
    const result = await runLoad({
      mqttUrl: broker.url,
      devices: 100,
      connections: 5,
      rate: 300,
      qos: 0,
      durationS: 1,
    });
    expect(result.connections).toBe(5);
    expect(result.sent).toBeGreaterThan(150);
    expect(result.sent).toBeLessThan(450);
  });
});
