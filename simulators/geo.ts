/** Spherical geometry on WGS-84 coordinates, good to a few metres over the distances we simulate. */
import type { Rng } from './rng.ts';

export interface LatLon {
  lat: number;
  lon: number;
}

const EARTH_RADIUS_M = 6_371_008.8;
const rad = (deg: number) => (deg * Math.PI) / 180;
const deg = (r: number) => (r * 180) / Math.PI;

export function distanceM(a: LatLon, b: LatLon): number {
  const dLat = rad(b.lat - a.lat);
  const dLon = rad(b.lon - a.lon);
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Initial bearing from a to b, degrees clockwise from north in [0, 360). */
export function bearingDeg(a: LatLon, b: LatLon): number {
  const y = Math.sin(rad(b.lon - a.lon)) * Math.cos(rad(b.lat));
  const x =
    Math.cos(rad(a.lat)) * Math.sin(rad(b.lat)) -
    Math.sin(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.cos(rad(b.lon - a.lon));
  return (deg(Math.atan2(y, x)) + 360) % 360;
}

export function destination(from: LatLon, bearing: number, meters: number): LatLon {
  const d = meters / EARTH_RADIUS_M;
  const b = rad(bearing);
  const lat1 = rad(from.lat);
  const lat2 = Math.asin(Math.sin(lat1) * Math.cos(d) + Math.cos(lat1) * Math.sin(d) * Math.cos(b));
  const lon2 =
    rad(from.lon) +
    Math.atan2(Math.sin(b) * Math.sin(d) * Math.cos(lat1), Math.cos(d) - Math.sin(lat1) * Math.sin(lat2));
  return { lat: deg(lat2), lon: ((deg(lon2) + 540) % 360) - 180 };
}

/** A point uniformly spread within `radiusM` of `center` (area-uniform, not clustered at the middle). */
export function scatter(rng: Rng, center: LatLon, minM: number, maxM: number): LatLon {
  const r = Math.sqrt(rng.range((minM / maxM) ** 2, 1)) * maxM;
  return destination(center, rng.range(0, 360), r);
}

/** A polyline with cumulative lengths, so a position at a travelled distance is a binary search. */
export interface Path {
  points: LatLon[];
  /** cumulative[i] = metres from points[0] to points[i]. */
  cumulative: number[];
  lengthM: number;
}

export function pathThrough(points: LatLon[]): Path {
  if (points.length < 2) throw new Error('a path needs at least two points');
  const cumulative = [0];
  for (let i = 1; i < points.length; i++) {
    cumulative.push(cumulative[i - 1]! + distanceM(points[i - 1]!, points[i]!));
  }
  return { points, cumulative, lengthM: cumulative[cumulative.length - 1]! };
}

/**
 * A road-like route: straight lines between the waypoints would look like a plane's track on the map,
 * so each stretch gets bends every few kilometres that wander off the chord and come back
 * (a smoothed random walk, bounded to a few percent of the stretch length).
 */
export function roadPath(rng: Rng, waypoints: LatLon[], bendEveryM = 4000): Path {
  const points: LatLon[] = [waypoints[0]!];
  for (let w = 1; w < waypoints.length; w++) {
    const a = waypoints[w - 1]!;
    const b = waypoints[w]!;
    const stretch = distanceM(a, b);
    const bends = Math.max(1, Math.floor(stretch / bendEveryM));
    const maxOffset = Math.min(0.06 * stretch, 8000);
    let offset = 0;
    for (let i = 1; i < bends; i++) {
      const f = i / bends;
      // Pull towards the chord near both ends so the stretch still starts and ends on its waypoints.
      const envelope = Math.sin(Math.PI * f);
      offset = Math.max(-maxOffset, Math.min(maxOffset, offset * 0.8 + rng.normal() * maxOffset * 0.25));
      const onChord = destination(a, bearingDeg(a, b), stretch * f);
      const side = bearingDeg(a, b) + (offset >= 0 ? 90 : -90);
      points.push(destination(onChord, side, Math.abs(offset) * envelope));
    }
    points.push(b);
  }
  return pathThrough(points);
}

/** Position and heading after travelling `meters` along the path (clamped to its ends). */
export function along(path: Path, meters: number): { pos: LatLon; heading: number } {
  const m = Math.max(0, Math.min(path.lengthM, meters));
  let lo = 0;
  let hi = path.cumulative.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (path.cumulative[mid]! <= m) lo = mid;
    else hi = mid;
  }
  const a = path.points[lo]!;
  const b = path.points[hi]!;
  const segment = path.cumulative[hi]! - path.cumulative[lo]!;
  const f = segment > 0 ? (m - path.cumulative[lo]!) / segment : 0;
  return {
    pos: { lat: a.lat + (b.lat - a.lat) * f, lon: a.lon + (b.lon - a.lon) * f },
    heading: bearingDeg(a, b),
  };
}

/** The part of a path between two travelled distances, as a path of its own. */
export function slicePath(path: Path, fromM: number, toM: number): Path {
  const start = along(path, fromM).pos;
  const end = along(path, toM).pos;
  const inner = path.points.filter((_, i) => path.cumulative[i]! > fromM && path.cumulative[i]! < toM);
  return pathThrough([start, ...inner, end]);
}

export function reversePath(path: Path): Path {
  return pathThrough([...path.points].reverse());
}
