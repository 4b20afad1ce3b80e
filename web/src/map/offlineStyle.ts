/**
 * The default basemap: a MapLibre style with everything inline — sea as the background, land and
 * borders as GeoJSON shipped with the app. No tiles, no glyphs, no sprites: it works offline, and
 * so the map's own layers must not need glyphs either (no text/symbol layers).
 */
import type { StyleSpecification } from 'maplibre-gl';
import atlasUrl from 'world-atlas/countries-50m.json?url';
import { type Basemap, basemapFromAtlas, type WorldAtlas } from './basemap.ts';

export const OFFLINE_COLORS = {
  sea: '#c9dcea',
  land: '#f5f3ee',
  coast: '#8eaec6',
  border: '#9c948a',
};

export function offlineStyle(basemap: Basemap): StyleSpecification {
  return {
    version: 8,
    name: 'Offline (Natural Earth 1:50m)',
    sources: {
      land: { type: 'geojson', data: basemap.land, maxzoom: 6, tolerance: 1, attribution: 'Natural Earth' },
      borders: { type: 'geojson', data: basemap.borders, maxzoom: 6, tolerance: 1 },
    },
    layers: [
      { id: 'sea', type: 'background', paint: { 'background-color': OFFLINE_COLORS.sea } },
      { id: 'land', type: 'fill', source: 'land', paint: { 'fill-color': OFFLINE_COLORS.land } },
      {
        id: 'coastline',
        type: 'line',
        source: 'land',
        paint: {
          'line-color': OFFLINE_COLORS.coast,
          'line-width': ['interpolate', ['linear'], ['zoom'], 2, 0.5, 8, 1.5],
        },
      },
      {
        id: 'country-borders',
        type: 'line',
        source: 'borders',
        layout: { 'line-join': 'round' },
        paint: {
          'line-color': OFFLINE_COLORS.border,
          'line-width': ['interpolate', ['linear'], ['zoom'], 2, 0.6, 8, 1.6],
          'line-dasharray': [3, 1.5],
        },
      },
    ],
  };
}

/** Fetches the bundled atlas (an asset of the build, same origin) and builds the style. */
export async function loadOfflineStyle(): Promise<StyleSpecification> {
  const res = await fetch(atlasUrl);
  if (!res.ok) throw new Error(`offline basemap: HTTP ${res.status} for ${atlasUrl}`);
  return offlineStyle(basemapFromAtlas((await res.json()) as WorldAtlas));
}
