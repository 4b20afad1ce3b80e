/**
 * Geometry the platform shares: distances and bearings on the sphere, geofence shapes as GeoJSON,
 * and display coordinates (GCJ-02 for Chinese map tiles). Pure; storage is always WGS-84.
 *
 * @turf/turf rather than hand-written formulas: its point-in-polygon handles holes, multipolygons
 * and boundaries correctly, its circle() makes geodesic polygons, and its distance/bearing agree
 * with the clustering (clustersDbscan) used for sites, all on GeoJSON we store anyway.
 */
import { bearing, booleanPointInPolygon, circle, distance, point } from '@turf/turf';
import * as gcoordModule from 'gcoord';
import type { MultiPolygon, Polygon } from 'geojson';
import { z } from 'zod';

export interface LatLon {
  lat: number;
  lon: number;
}

export const LatSchema = z.number().min(-90).max(90);
export const LonSchema = z.number().min(-180).max(180);

/** Great-circle distance in metres. */
export function distanceM(a: LatLon, b: LatLon): number {
  return distance(point([a.lon, a.lat]), point([b.lon, b.lat]), { units: 'meters' });
}

/** Initial bearing from a to b, degrees clockwise from north in [0, 360). */
export function bearingDeg(a: LatLon, b: LatLon): number {
  return (bearing(point([a.lon, a.lat]), point([b.lon, b.lat])) + 360) % 360;
}

const COMPASS = ['N', 'NE', 'E', 'SE', 'S', 'SW', 'W', 'NW'] as const;
export function compassPoint(deg: number): (typeof COMPASS)[number] {
  return COMPASS[Math.round(deg / 45) % 8]!;
}

const Position = z.tuple([LonSchema, LatSchema]).rest(z.number());
const Ring = z
  .array(Position)
  .min(4, 'a linear ring needs at least 4 positions')
  .refine((r) => r[0]![0] === r[r.length - 1]![0] && r[0]![1] === r[r.length - 1]![1], {
    message: 'a linear ring must end where it starts',
  });
export const PolygonSchema = z.object({ type: z.literal('Polygon'), coordinates: z.array(Ring).min(1) });
export const MultiPolygonSchema = z.object({
  type: z.literal('MultiPolygon'),
  coordinates: z.array(z.array(Ring).min(1)).min(1),
});
export const CircleSchema = z.object({
  type: z.literal('Circle'),
  center: z.object({ lat: LatSchema, lon: LonSchema }),
  radiusM: z.number().positive().max(2_000_000),
});
/** What a geofence is drawn as: a GeoJSON polygon or multipolygon, or a circle. */
export const FenceShapeSchema = z.discriminatedUnion('type', [
  PolygonSchema,
  MultiPolygonSchema,
  CircleSchema,
]);
export type FenceShape = z.infer<typeof FenceShapeSchema>;

export type FenceGeometry = Polygon | MultiPolygon;

/** The polygon a shape is tested with (a circle becomes a 64-sided geodesic polygon). */
export function fenceGeometry(shape: FenceShape): FenceGeometry {
  if (shape.type === 'Circle') {
    return circle([shape.center.lon, shape.center.lat], shape.radiusM, { steps: 64, units: 'meters' })
      .geometry;
  }
  return shape as FenceGeometry;
}

export interface BBox {
  minLat: number;
  minLon: number;
  maxLat: number;
  maxLon: number;
}

export function geometryBBox(g: FenceGeometry): BBox {
  const box = { minLat: 90, minLon: 180, maxLat: -90, maxLon: -180 };
  const rings = g.type === 'Polygon' ? g.coordinates : g.coordinates.flat();
  for (const ring of rings) {
    for (const [lon, lat] of ring) {
      box.minLat = Math.min(box.minLat, lat!);
      box.maxLat = Math.max(box.maxLat, lat!);
      box.minLon = Math.min(box.minLon, lon!);
      box.maxLon = Math.max(box.maxLon, lon!);
    }
  }
  return box;
}

/** Whether the point is inside (or on the edge of) the geometry. */
export function contains(g: FenceGeometry, p: LatLon): boolean {
  return booleanPointInPolygon([p.lon, p.lat], g);
}

interface Gcoord {
  transform(input: [number, number], from: string, to: string): [number, number];
  WGS84: string;
  GCJ02: string;
}
// gcoord is CommonJS with an ES default export in its types: Node hands the object over as the
// namespace's `default`, a bundler may hand over the object itself.
const gcoordLoaded = gcoordModule as unknown as Gcoord & { default?: Gcoord };
const gcoord: Gcoord = gcoordLoaded.default ?? gcoordLoaded;

export type DisplayDatum = 'wgs84' | 'gcj02';

/** A WGS-84 position as shown on Chinese tiles (GCJ-02); unchanged outside China, as gcoord does. */
export function toDisplay(p: LatLon, datum: DisplayDatum): LatLon {
  if (datum === 'wgs84') return p;
  const [lon, lat] = gcoord.transform([p.lon, p.lat], gcoord.WGS84, gcoord.GCJ02);
  return { lat, lon };
}
