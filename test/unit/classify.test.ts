import { describe, expect, it } from 'vitest';
import { classify } from '../../ingest/classify.ts';

const now = Date.UTC(2026, 10, 28, 12);
const options = { maxPayloadBytes: 1024, maxClockSkewMs: 60_000 };
const bytes = (s: string) => new TextEncoder().encode(s);

describe('ingest classification', () => {
  it('turns a report into a telemetry row for the topic device', () => {
    const b = classify(
      'devices/D1/telemetry',
      bytes(JSON.stringify({ v: 1, ts: now, lat: 1, lon: 2 })),
      now,
      options,
    );
    expect(b.rejects).toEqual([]);
    expect(b.telemetry).toEqual([
      { deviceId: 'D1', receivedAt: now, report: { v: 1, ts: now, lat: 1, lon: 2 } },
    ]);
  });

  it('rejects device time too far in the future, keeps the rest of the backlog', () => {
    const b = classify(
      'devices/D1/telemetry',
      bytes(
        JSON.stringify([
          { v: 1, ts: now + 120_000, lat: 1, lon: 2 },
          { v: 1, ts: now - 1, lat: 1, lon: 2 },
        ]),
      ),
      now,
      options,
    );
    expect(b.telemetry.map((t) => t.report.ts)).toEqual([now - 1]);
    expect(b.rejects).toEqual([expect.objectContaining({ reason: 'future_time', deviceId: 'D1' })]);
    expect(b.rejects[0]?.examples[0]).toMatch(/^report 0: /);
  });

  it('keeps the first bytes of a rejected payload as evidence', () => {
    const b = classify('devices/D1/telemetry', bytes('x'.repeat(5000)), now, {
      ...options,
      maxPayloadBytes: 10_000,
    });
    expect(b.rejects[0]).toMatchObject({ reason: 'malformed_json', topic: 'devices/D1/telemetry' });
    expect(b.rejects[0]?.payload).toHaveLength(1024);
  });

  it('makes one dead letter of a backlog of bad reports, counting its problems by reason', () => {
    const bad = Array.from({ length: 999 }, (_, i) =>
      i < 3 ? { v: 1, ts: now + 3_600_000 + i, lat: 1, lon: 2 } : { v: 1, ts: now, lat: 'north', lon: 2 },
    );
    const payload = bytes(JSON.stringify([{ v: 1, ts: now - 1, lat: 1, lon: 2 }, ...bad]));
    const b = classify('devices/D1/telemetry', payload, now, { ...options, maxPayloadBytes: 200_000 });
    expect(b.telemetry).toHaveLength(1);
    expect(b.rejects).toHaveLength(1);
    const [letter] = b.rejects;
    expect(letter).toMatchObject({
      deviceId: 'D1',
      reason: 'schema',
      reasons: { schema: 996, future_time: 3 },
      payloadBytes: payload.byteLength,
    });
    expect(letter?.examples).toHaveLength(5);
    expect(letter?.examples[0]).toMatch(/^report 4: lat/);
    expect(letter?.payload).toHaveLength(1024);
  });

  it('reads online/offline status and rejects anything else', () => {
    expect(classify('devices/D1/status', bytes('offline'), now, options).statuses).toEqual([
      { deviceId: 'D1', online: false, receivedAt: now },
    ]);
    expect(classify('devices/D1/status', bytes('sleeping'), now, options).rejects[0]?.reason).toBe('schema');
    // An empty status deletes a retained one: nothing is recorded, nothing rejected.
    expect(classify('devices/D1/status', bytes(''), now, options)).toMatchObject({
      statuses: [],
      rejects: [],
      telemetry: [],
    });
    expect(classify('devices/D1/status', bytes(' '), now, options).rejects[0]?.reason).toBe('schema');
  });

  it('rejects a topic that is not a device topic', () => {
    expect(classify('devices/a/b/telemetry', bytes('{}'), now, options).rejects[0]).toMatchObject({
      reason: 'bad_topic',
      deviceId: null,
    });
  });
});
