/**
 * Trail playback: where the machine was at a moment between two fixes (linear between them; the
 * slider moves in time, not in fix index, so a long stop shows as a pause). Pure.
 */
export interface TrailFix {
  t: number;
  lon: number;
  lat: number;
}

interface TrackFeature {
  geometry?: { type: string; coordinates: unknown } | null;
  properties?: { coordinateProperties?: { times?: unknown } } | null;
}

/**
 * The fixes of a track as GET /api/devices/{id}/track serves it: a LineString whose
 * `coordinateProperties.times` (the togeojson convention) holds each vertex's time; the start and
 * end points repeat its ends and are skipped.
 */
export function fixesFromTrack(geojson: unknown): TrailFix[] {
  const out: TrailFix[] = [];
  const root = geojson as { type?: string; features?: unknown[] } | null;
  const features = root?.type === 'FeatureCollection' && Array.isArray(root.features) ? root.features : [];
  for (const f of features as TrackFeature[]) {
    if (f.geometry?.type !== 'LineString') continue;
    const coords = f.geometry.coordinates as number[][];
    const times = f.properties?.coordinateProperties?.times;
    if (!Array.isArray(times) || times.length !== coords.length) continue;
    coords.forEach((c, i) => {
      const t = Date.parse(String(times[i]));
      if (!Number.isNaN(t) && c.length >= 2) out.push({ t, lon: c[0]!, lat: c[1]! });
    });
  }
  return out.sort((a, b) => a.t - b.t);
}

/** A trail range as the panel's `<input type=datetime-local>` fields hold it: local wall time to the minute. */
export interface TrailRange {
  from: string;
  to: string;
}

const HOUR = 3_600_000;
/** `<input type=datetime-local>` value in the browser's zone. */
export const localInput = (ms: number) => {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
};

/**
 * The range offered until the user picks one: the last 24 hours, to the next whole minute so the
 * newest fixes are in it. Taken at each use, not once: a panel left open for an hour still asks
 * for the fixes of that hour.
 */
export const lastDay = (now: number): TrailRange => ({
  from: localInput(now - 24 * HOUR),
  to: localInput(now + 60_000),
});

/** The track query of a range (the fields are local times; the api takes instants). */
export const trackQuery = (range: TrailRange) =>
  new URLSearchParams({ from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString() });

/** The position at time `t` (clamped to the trail), or null for an empty trail. */
export function positionAt(fixes: readonly TrailFix[], t: number): TrailFix | null {
  if (fixes.length === 0) return null;
  const first = fixes[0]!;
  const last = fixes[fixes.length - 1]!;
  if (t <= first.t) return first;
  if (t >= last.t) return last;
  // Binary search for the last fix at or before t.
  let lo = 0;
  let hi = fixes.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fixes[mid]!.t <= t) lo = mid;
    else hi = mid;
  }
  const a = fixes[lo]!;
  const b = fixes[hi]!;
  const k = b.t === a.t ? 0 : (t - a.t) / (b.t - a.t);
  return { t, lon: a.lon + (b.lon - a.lon) * k, lat: a.lat + (b.lat - a.lat) * k };
}
