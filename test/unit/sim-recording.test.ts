import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseTelemetryMessage } from '../../shared/protocol.ts';
import { parseRecording, retimePayload, toNdjsonLine } from '../../simulators/recording.ts';

const fixture = readFileSync(new URL('../fixtures/sim-traffic.ndjson', import.meta.url), 'utf8');

describe('recordings', () => {
  it('the committed fixture is a valid recording of valid traffic', () => {
    const messages = parseRecording(fixture);
    expect(messages.length).toBeGreaterThan(50);
    const telemetry = messages.filter((m) => m.topic.endsWith('/telemetry'));
    expect(telemetry.flatMap((m) => parseTelemetryMessage(m.payload).rejected)).toEqual([]);
    expect(messages.filter((m) => m.topic.endsWith('/status')).map((m) => m.payload)).toContain('online');
  });

  it('round-trips a line and points at the bad line', () => {
    const m = { t: 5, topic: 'devices/A/status', payload: 'online' };
    expect(parseRecording(toNdjsonLine(m) + toNdjsonLine({ ...m, t: 6 }))).toEqual([m, { ...m, t: 6 }]);
    expect(() => parseRecording(`${toNdjsonLine(m)}{oops\n`)).toThrow(/line 2: not JSON/);
    expect(() => parseRecording(`${toNdjsonLine(m)}{"t":1,"topic":"x"}\n`)).toThrow(/line 2/);
    expect(() => parseRecording(toNdjsonLine(m) + toNdjsonLine({ ...m, t: 4 }))).toThrow(/backwards/);
  });

  it('retimes telemetry device times only', () => {
    expect(JSON.parse(retimePayload('devices/A/telemetry', '{"v":1,"ts":1000}', 500))).toEqual({
      v: 1,
      ts: 1500,
    });
    expect(JSON.parse(retimePayload('devices/A/telemetry', '[{"ts":1},{"ts":2}]', 10))).toEqual([
      { ts: 11 },
      { ts: 12 },
    ]);
    expect(retimePayload('devices/A/status', 'online', 10)).toBe('online');
    expect(retimePayload('devices/A/telemetry', 'not json', 10)).toBe('not json');
  });
});
