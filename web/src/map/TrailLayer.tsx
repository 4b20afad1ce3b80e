/** A machine's trail as a line, and the playback position as a circle. Renders nothing itself. */
import type { GeoJSONSource } from 'maplibre-gl';
import { useEffect, useMemo } from 'react';
import { displayPoint, type MapDatum } from './datum.ts';
import { canEditStyle, useMap } from './MapView.tsx';
import { positionAt, type TrailFix } from './playback.ts';

export const TRAIL_SOURCE = 'trail';
export const TRAIL_LAYER = 'trail-line';
export const PLAYBACK_LAYER = 'trail-playback';

export function TrailLayer({
  fixes: stored,
  at,
  datum,
}: {
  fixes: TrailFix[];
  at: number | null;
  datum: MapDatum;
}) {
  const map = useMap();
  const fixes = useMemo(
    () =>
      datum === 'wgs84'
        ? stored
        : stored.map((f) => {
            const [lon, lat] = displayPoint([f.lon, f.lat], datum);
            return { ...f, lon, lat };
          }),
    [stored, datum],
  );
  useEffect(() => {
    const removeOwn = () => {
      if (!canEditStyle(map)) return;
      for (const id of [PLAYBACK_LAYER, TRAIL_LAYER]) if (map.getLayer(id)) map.removeLayer(id);
      if (map.getSource(TRAIL_SOURCE)) map.removeSource(TRAIL_SOURCE);
    };
    removeOwn();
    // No simplification: a parked machine's trail is a few metres of GPS scatter, which the default
    // tolerance drops from every tile below the source's top zoom, leaving nothing drawn.
    map.addSource(TRAIL_SOURCE, {
      type: 'geojson',
      data: { type: 'FeatureCollection', features: [] },
      tolerance: 0,
    });
    map.addLayer({
      id: TRAIL_LAYER,
      type: 'line',
      source: TRAIL_SOURCE,
      filter: ['==', ['geometry-type'], 'LineString'],
      // Round ends, so a trail shorter than a pixel still shows as a dot.
      layout: { 'line-cap': 'round', 'line-join': 'round' },
      paint: { 'line-color': '#2357c6', 'line-width': 3, 'line-opacity': 0.8 },
    });
    map.addLayer({
      id: PLAYBACK_LAYER,
      type: 'circle',
      source: TRAIL_SOURCE,
      filter: ['==', ['geometry-type'], 'Point'],
      paint: {
        'circle-color': '#2357c6',
        'circle-radius': 7,
        'circle-stroke-color': '#fff',
        'circle-stroke-width': 2,
      },
    });
    return removeOwn;
  }, [map]);

  useEffect(() => {
    if (!canEditStyle(map)) return;
    const source = map.getSource<GeoJSONSource>(TRAIL_SOURCE);
    const here = at === null ? null : positionAt(fixes, at);
    void source?.setData({
      type: 'FeatureCollection',
      features: [
        ...(fixes.length >= 2
          ? [
              {
                type: 'Feature' as const,
                properties: {},
                geometry: { type: 'LineString' as const, coordinates: fixes.map((f) => [f.lon, f.lat]) },
              },
            ]
          : []),
        ...(here
          ? [
              {
                type: 'Feature' as const,
                properties: {},
                geometry: { type: 'Point' as const, coordinates: [here.lon, here.lat] },
              },
            ]
          : []),
      ],
    });
  }, [map, fixes, at]);

  // Bring a newly loaded trail into view.
  useEffect(() => {
    if (fixes.length === 0) return;
    let [w, s, e, n] = [180, 90, -180, -90];
    for (const f of fixes) {
      w = Math.min(w, f.lon);
      e = Math.max(e, f.lon);
      s = Math.min(s, f.lat);
      n = Math.max(n, f.lat);
    }
    map.fitBounds(
      [
        [w, s],
        [e, n],
      ],
      { padding: 80, maxZoom: 16, duration: 0 },
    );
  }, [map, fixes]);
  return null;
}
