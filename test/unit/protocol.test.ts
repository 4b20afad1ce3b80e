import { describe, expect, it } from 'vitest';
import { hasUsableFix, parseTelemetryMessage, parseTopic, topics } from '../../shared/protocol.ts';

const ts = Date.UTC(2026, 10, 28, 8);
const good = { v: 1, seq: 7, ts, lat: 31.2, lon: 121.5, spd: 0, ign: false, hrs: 12.5, alm: ['powerCut'] };

describe('device protocol v1', () => {
  it('accepts a single report and keeps its fields', () => {
    const r = parseTelemetryMessage(JSON.stringify(good));
    expect(r.rejected).toEqual([]);
    expect(r.reports).toEqual([good]);
  });

  it('accepts a backlog array and rejects only its bad elements, by index', () => {
    const r = parseTelemetryMessage(JSON.stringify([good, { ...good, lat: 91 }, { ...good, ts: ts - 1000 }]));
    expect(r.reports.map((x) => x.ts)).toEqual([ts, ts - 1000]);
    expect(r.rejected).toHaveLength(1);
    expect(r.rejected[0]).toMatchObject({ index: 1, reason: 'schema' });
    expect(r.rejected[0]?.detail).toMatch(/^lat: /);
  });

  it.each([
    ['not json', '{"v":1', 'malformed_json'],
    ['wrong version', JSON.stringify({ ...good, v: 2 }), 'schema'],
    ['missing position', JSON.stringify({ v: 1, ts }), 'schema'],
    ['clock unset', JSON.stringify({ ...good, ts: 0 }), 'schema'],
    ['bad alarm name', JSON.stringify({ ...good, alm: ['power cut!'] }), 'schema'],
    ['empty backlog', '[]', 'empty'],
    ['a string', '"hello"', 'schema'],
  ])('rejects %s', (_what, payload, reason) => {
    const r = parseTelemetryMessage(payload);
    expect(r.reports).toEqual([]);
    expect(r.rejected).toEqual([expect.objectContaining({ index: null, reason })]);
  });

  it('rejects an oversize payload before parsing it', () => {
    const r = parseTelemetryMessage(JSON.stringify(good), 20);
    expect(r.rejected[0]).toMatchObject({ reason: 'oversize' });
  });

  it('parses only device topics it knows', () => {
    expect(parseTopic(topics.telemetry('SIM-000001'))).toEqual({ deviceId: 'SIM-000001', kind: 'telemetry' });
    expect(parseTopic('devices/A/commands')).toEqual({ deviceId: 'A', kind: 'commands' });
    expect(parseTopic('devices/+/telemetry')).toBeNull();
    expect(parseTopic('devices/A/telemetry/extra')).toBeNull();
    expect(parseTopic('other/A/telemetry')).toBeNull();
    expect(parseTopic('devices/A/firmware')).toBeNull();
  });

  it('does not treat a report without a fix, or null island, as a location', () => {
    expect(hasUsableFix({ lat: 31, lon: 121 })).toBe(true);
    expect(hasUsableFix({ lat: 31, lon: 121, fix: false })).toBe(false);
    expect(hasUsableFix({ lat: 0, lon: 0, fix: true })).toBe(false);
  });
});
