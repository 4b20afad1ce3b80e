/**
 * The offline basemap's geometry: land and country borders from Natural Earth (world-atlas
 * TopoJSON), converted to GeoJSON that a flat map can draw. Pure, so it can be tested without a
 * browser.
 *
 * world-atlas is spherical: a ring may jump from longitude +180 to -180 (Chukotka, Fiji) and
 * Antarctica's ring circles the South Pole. Drawn on a plane as they are, those jumps become lines
 * across the whole world and stray filled bands. So rings are made continuous (longitudes may go
 * past ±180, which MapLibre wraps), a ring around a pole is closed along it, rings are wound as
 * RFC 7946 says, and border lines are cut where they jump.
 */
import type { FeatureCollection, LineString, Polygon, Position } from 'geojson';
import { feature, mesh } from 'topojson-client';
import type { GeometryCollection, Topology } from 'topojson-specification';

/** The shape of world-atlas's countries-*.json: both objects are there. */
export type WorldAtlas = Topology<{ countries: GeometryCollection; land: GeometryCollection }>;

/**
 * One feature per polygon and per line, not one huge multi-geometry: MapLibre's tiler then skips
 * whole features by their bounding box instead of clipping every vertex of the world for every
 * tile, which makes the map load several times faster.
 */
export interface Basemap {
  land: FeatureCollection<Polygon>;
  /** Land borders between two countries (coasts come from the land outline). */
  borders: FeatureCollection<LineString>;
}

export function basemapFromAtlas(atlas: WorldAtlas): Basemap {
  const polygons: Position[][][] = [];
  for (const f of (feature(atlas, atlas.objects.land) as FeatureCollection).features) {
    const g = f.geometry;
    if (g.type === 'Polygon') polygons.push(g.coordinates);
    else if (g.type === 'MultiPolygon') polygons.push(...g.coordinates);
  }
  const lines = mesh(atlas, atlas.objects.countries, (a, b) => a !== b).coordinates.flatMap(
    splitAtAntimeridian,
  );
  return {
    land: {
      type: 'FeatureCollection',
      features: planarPolygons(polygons).map((coordinates) => ({
        type: 'Feature',
        properties: {},
        geometry: { type: 'Polygon', coordinates },
      })),
    },
    borders: {
      type: 'FeatureCollection',
      features: lines.map((coordinates) => ({
        type: 'Feature',
        properties: {},
        geometry: { type: 'LineString', coordinates },
      })),
    },
  };
}

const jumps = (a: Position, b: Position) => Math.abs(b[0]! - a[0]!) > 180;

/** Cuts a line where it jumps across the antimeridian; pieces of fewer than two points go. */
export function splitAtAntimeridian(line: Position[]): Position[][] {
  const pieces: Position[][] = [];
  let piece: Position[] = [];
  for (const p of line) {
    const last = piece.at(-1);
    if (last !== undefined && jumps(last, p)) {
      pieces.push(piece);
      piece = [];
    }
    piece.push(p);
  }
  pieces.push(piece);
  return pieces.filter((p) => p.length >= 2);
}

/**
 * Shifts longitudes by multiples of 360 so no edge is longer than 180°. Returns the ring and how
 * far its end ended up from its start: 0 for an ordinary ring, ±360 for one that circles a pole.
 */
export function unwrapRing(ring: Position[]): { ring: Position[]; wind: number } {
  const out: Position[] = [];
  let shift = 0;
  let prev: Position | undefined;
  for (const p of ring) {
    if (prev !== undefined) {
      const d = p[0]! - prev[0]!;
      if (d > 180) shift -= 360;
      else if (d < -180) shift += 360;
    }
    out.push([p[0]! + shift, p[1]!]);
    prev = p;
  }
  return { ring: out, wind: shift };
}

/** Twice the signed area on the lon/lat plane: positive = counter-clockwise. */
export function signedArea(ring: Position[]): number {
  let a = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    a += ring[j]![0]! * ring[i]![1]! - ring[i]![0]! * ring[j]![1]!;
  }
  return a;
}

function isDegenerate(ring: Position[]): boolean {
  const lat0 = ring[0]?.[1];
  return ring.length < 4 || ring.every((p) => p[1] === lat0);
}

/** Polygons ready for a plane: continuous, poles closed, outer rings CCW and holes CW. */
export function planarPolygons(polygons: Position[][][]): Position[][][] {
  const out: Position[][][] = [];
  for (const polygon of polygons) {
    const rings: Position[][] = [];
    for (const [i, raw] of polygon.entries()) {
      if (isDegenerate(raw)) continue;
      let { ring, wind } = unwrapRing(raw);
      if (wind !== 0) {
        // Circles a pole: close it along the pole (the plane's edge) on the side it lies.
        const pole = ring.reduce((s, p) => s + p[1]!, 0) < 0 ? -90 : 90;
        const first = ring[0]!;
        const last = ring.at(-1)!;
        ring = [...ring, [last[0]!, pole], [first[0]!, pole], first];
      }
      const ccw = signedArea(ring) > 0;
      const wantCcw = i === 0;
      rings.push(ccw === wantCcw ? ring : ring.reverse());
    }
    if (rings.length > 0) out.push(rings);
  }
  return out;
}
