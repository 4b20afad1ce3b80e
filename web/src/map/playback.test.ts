import { describe, expect, it } from 'vitest';
import { trackGeoJson } from '../../../shared/geo-export.ts';
import { fixesFromTrack, lastDay, localInput, positionAt, trackQuery } from './playback.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const points = [
  { ts: T0, lat: 30, lon: 120 },
  { ts: T0 + 60_000, lat: 30, lon: 121 },
  { ts: T0 + 3_660_000, lat: 31, lon: 121 },
].map((p) => ({ ...p, spd: null, ign: null }));

describe('trail playback', () => {
  it('reads the fixes of the served track, not its start and end markers twice', () => {
    const fixes = fixesFromTrack(trackGeoJson('dev-1', points));
    expect(fixes).toEqual(points.map((p) => ({ t: p.ts, lat: p.lat, lon: p.lon })));
  });

  it('finds nothing in an empty or foreign document', () => {
    expect(fixesFromTrack(trackGeoJson('dev-1', []))).toEqual([]);
    expect(fixesFromTrack({ type: 'Feature' })).toEqual([]);
    expect(fixesFromTrack(null)).toEqual([]);
  });

  it('interpolates in time between fixes and clamps at the ends', () => {
    const fixes = fixesFromTrack(trackGeoJson('dev-1', points));
    expect(positionAt(fixes, T0 + 30_000)).toEqual({ t: T0 + 30_000, lat: 30, lon: 120.5 });
    // A long slow leg: half-way in time is half-way in space.
    expect(positionAt(fixes, T0 + 60_000 + 1_800_000)?.lat).toBeCloseTo(30.5);
    expect(positionAt(fixes, T0 - 1)).toMatchObject({ lon: 120, lat: 30 });
    expect(positionAt(fixes, T0 + 1e9)).toMatchObject({ lon: 121, lat: 31 });
    expect(positionAt([], T0)).toBeNull();
  });

  it('offers the last 24 hours as of each use, to the next whole minute', () => {
    const now = Date.parse('2026-03-01T10:20:30.500Z');
    const range = lastDay(now);
    expect(range).toEqual({ from: localInput(now - 86_400_000), to: localInput(now + 60_000) });
    const q = trackQuery(range);
    // Whole minutes of local time: the range covers the day before `now` and a little after it.
    expect(Date.parse(q.get('from')!)).toBeLessThanOrEqual(now - 86_400_000);
    expect(Date.parse(q.get('from')!)).toBeGreaterThan(now - 86_400_000 - 60_000);
    expect(Date.parse(q.get('to')!)).toBeGreaterThan(now);
    expect(Date.parse(q.get('to')!)).toBeLessThanOrEqual(now + 60_000);
    // An hour later the range has moved with the clock.
    expect(trackQuery(lastDay(now + 3_600_000)).get('to')).not.toBe(q.get('to'));
  });
});
