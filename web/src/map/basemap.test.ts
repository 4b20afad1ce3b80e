import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Position } from 'geojson';
import { describe, expect, it } from 'vitest';
import {
  basemapFromAtlas,
  planarPolygons,
  signedArea,
  splitAtAntimeridian,
  unwrapRing,
  type WorldAtlas,
} from './basemap.ts';
import { offlineStyle } from './offlineStyle.ts';

const require = createRequire(import.meta.url);
const atlas = JSON.parse(
  readFileSync(require.resolve('world-atlas/countries-110m.json'), 'utf8'),
) as WorldAtlas;

const atPole = (p: Position) => Math.abs(p[1]!) === 90;
/** The longest east-west extent of an edge, leaving out edges that run along a pole. */
const longestEdge = (ring: Position[]) =>
  Math.max(
    ...ring.slice(1).map((p, i) => {
      const q = ring[i]!;
      return atPole(p) && atPole(q) ? 0 : Math.abs(p[0]! - q[0]!);
    }),
  );

describe('antimeridian handling', () => {
  // An island across the antimeridian, as world-atlas stores it (Fiji-like).
  const island: Position[] = [
    [179, -16],
    [-179, -16],
    [-179, -17],
    [179, -17],
    [179, -16],
  ];

  it('makes a ring that crosses the antimeridian continuous', () => {
    const { ring, wind } = unwrapRing(island);
    expect(wind).toBe(0);
    expect(ring.map((p) => p[0])).toEqual([179, 181, 181, 179, 179]);
  });

  it('closes a ring round the South Pole along the pole, counter-clockwise', () => {
    const antarctica: Position[] = [
      [-180, -70],
      [-90, -72],
      [0, -69],
      [90, -66],
      [179, -70],
      [-180, -70],
    ];
    const [[ring]] = planarPolygons([[antarctica]]) as [[Position[]]];
    expect(longestEdge(ring)).toBeLessThanOrEqual(180);
    expect(ring.filter((p) => p[1] === -90)).toHaveLength(2);
    expect(signedArea(ring)).toBeGreaterThan(0);
  });

  it('winds outer rings counter-clockwise and holes clockwise, dropping flat rings', () => {
    const outerCw: Position[] = [
      [0, 0],
      [0, 10],
      [10, 10],
      [10, 0],
      [0, 0],
    ];
    const holeCcw: Position[] = [
      [2, 2],
      [8, 2],
      [8, 8],
      [2, 8],
      [2, 2],
    ];
    const flat: Position[] = [
      [-180, -90],
      [0, -90],
      [180, -90],
      [-180, -90],
    ];
    const [polygon] = planarPolygons([[outerCw, holeCcw, flat]]);
    expect(polygon).toHaveLength(2);
    expect(signedArea(polygon![0]!)).toBeGreaterThan(0);
    expect(signedArea(polygon![1]!)).toBeLessThan(0);
  });

  it('cuts lines where they jump', () => {
    expect(
      splitAtAntimeridian([
        [170, 60],
        [179.5, 61],
        [-179.5, 61],
        [-170, 62],
      ]),
    ).toEqual([
      [
        [170, 60],
        [179.5, 61],
      ],
      [
        [-179.5, 61],
        [-170, 62],
      ],
    ]);
  });
});

describe('offline basemap from world-atlas', () => {
  const basemap = basemapFromAtlas(atlas);

  it('has land with no edge across the world, and country borders', () => {
    const polygons = basemap.land.features.map((f) => f.geometry.coordinates);
    expect(polygons.length).toBeGreaterThan(100);
    for (const polygon of polygons) {
      expect(signedArea(polygon[0]!)).toBeGreaterThan(0);
      for (const ring of polygon) expect(longestEdge(ring)).toBeLessThan(180);
    }
    const lines = basemap.borders.features.map((f) => f.geometry.coordinates);
    expect(lines.length).toBeGreaterThan(100);
    for (const line of lines) expect(longestEdge(line)).toBeLessThan(180);
  });

  it('builds a style with no glyphs, sprites or remote sources', () => {
    const style = offlineStyle(basemap);
    expect(style.version).toBe(8);
    expect(style.glyphs).toBeUndefined();
    expect(style.sprite).toBeUndefined();
    expect(style.layers.some((l) => l.type === 'symbol')).toBe(false);
    for (const source of Object.values(style.sources)) {
      expect(source.type).toBe('geojson');
      expect(typeof (source as { data: unknown }).data).toBe('object');
    }
    expect(style.layers[0]).toMatchObject({ id: 'sea', type: 'background' });
  });
});
