import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { recordTraffic } from '../../simulators/record.ts';
import { parseRecording } from '../../simulators/recording.ts';
import { replayTraffic } from '../../simulators/replay.ts';
import { listen, startBroker, waitFor } from '../support/sim-broker.ts';

const messages = parseRecording(
  readFileSync(new URL('../fixtures/sim-traffic.ndjson', import.meta.url), 'utf8'),
).slice(0, 40);
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('record and replay', () => {
  it('replays in order, with the recorded spacing scaled by the speed', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const platform = await listen(broker.url);
    cleanups.push(() => platform.client.endAsync(true));
    const lines: string[] = [];
    const recorder = await recordTraffic({ mqttUrl: broker.url, write: (l) => lines.push(l) });
    cleanups.push(() => recorder.stop());

    const span = messages[messages.length - 1]!.t - messages[0]!.t;
    const speed = Math.max(1, span / 600); // about 0.6 s of replay
    const result = await replayTraffic({ mqttUrl: broker.url, messages, speed });
    expect(result.published).toBe(messages.length);
    expect(result.wallMs).toBeGreaterThanOrEqual(span / speed - 20);

    await waitFor(() => platform.heard.length >= messages.length, 5000, 'all messages');
    expect(platform.heard.map((h) => [h.topic, h.payload])).toEqual(
      messages.map((m) => [m.topic, m.payload]),
    );
    // The recorder heard the same, in the same NDJSON shape as the fixture.
    await waitFor(() => recorder.count() >= messages.length, 5000, 'recorder');
    expect(parseRecording(lines.join('')).map((m) => m.payload)).toEqual(messages.map((m) => m.payload));
  });

  it('retimes device times so an old recording looks live', async () => {
    const broker = await startBroker();
    cleanups.push(() => broker.close());
    const platform = await listen(broker.url);
    cleanups.push(() => platform.client.endAsync(true));
    const before = Date.now();
    await replayTraffic({
      mqttUrl: broker.url,
      messages: messages.slice(0, 4),
      speed: Number.POSITIVE_INFINITY,
      retime: true,
    });
    await waitFor(() => platform.heard.some((h) => h.topic.endsWith('/telemetry')), 5000, 'telemetry');
    const ts = JSON.parse(platform.heard.find((h) => h.topic.endsWith('/telemetry'))!.payload).ts;
    // Each report keeps its lag behind the moment it was heard; that moment is now "now".
    const first = messages.find((m) => m.topic.endsWith('/telemetry'))!;
    const lag = first.t - JSON.parse(first.payload).ts;
    expect(Math.abs(ts - (before - lag))).toBeLessThan(2000);
  });
});
