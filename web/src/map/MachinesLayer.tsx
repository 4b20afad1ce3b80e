/**
 * The fleet as circles: fill by escalation stage, a dark ring when the relay is engaged. Circles
 * need no glyphs, so this works on the offline basemap. One effect owns the source and layer, the
 * other pushes each new collection into the source.
 */
import type { GeoJSONSource, MapMouseEvent } from 'maplibre-gl';
import { useEffect, useRef } from 'react';
import type { MachineCollection } from '../../../shared/map.ts';
import { NO_CONTRACT_COLOR, RELAY_ENGAGED_COLOR, STAGE_COLORS } from '../common/stage.ts';
import { canEditStyle, isMapAlive, useMap } from './MapView.tsx';

export const MACHINES_SOURCE = 'machines';
export const MACHINES_LAYER = 'machines';

/** How far from a click (px) a machine still counts as hit: fingers are not precise. */
const HIT_TOLERANCE = 6;
const EMPTY: MachineCollection = { type: 'FeatureCollection', features: [] };

export interface MachinesLayerProps {
  collection: MachineCollection;
  /** A click on a machine (its deviceId) or on empty map (null). */
  onSelect?: (deviceId: string | null) => void;
  /** The source now holds `collection` (the worker has indexed it). */
  onApplied?: (collection: MachineCollection) => void;
}

export function MachinesLayer({ collection, onSelect, onApplied }: MachinesLayerProps) {
  const map = useMap();
  const onSelectRef = useRef(onSelect);
  const onAppliedRef = useRef(onApplied);
  useEffect(() => {
    onSelectRef.current = onSelect;
    onAppliedRef.current = onApplied;
  });

  useEffect(() => {
    const removeOwn = () => {
      if (!canEditStyle(map)) return;
      if (map.getLayer(MACHINES_LAYER)) map.removeLayer(MACHINES_LAYER);
      if (map.getSource(MACHINES_SOURCE)) map.removeSource(MACHINES_SOURCE);
    };
    removeOwn(); // left over from a style restored after a lost WebGL context
    map.addSource(MACHINES_SOURCE, { type: 'geojson', data: EMPTY, promoteId: 'deviceId' });
    map.addLayer({
      id: MACHINES_LAYER,
      type: 'circle',
      source: MACHINES_SOURCE,
      // Worse stages are drawn on top of better ones.
      layout: { 'circle-sort-key': ['coalesce', ['get', 'stage'], -1] },
      paint: {
        'circle-color': [
          'match',
          ['coalesce', ['get', 'stage'], -1],
          0,
          STAGE_COLORS[0],
          1,
          STAGE_COLORS[1],
          2,
          STAGE_COLORS[2],
          3,
          STAGE_COLORS[3],
          NO_CONTRACT_COLOR,
        ],
        'circle-radius': ['interpolate', ['linear'], ['zoom'], 3, 5.5, 8, 7, 14, 10],
        'circle-stroke-color': ['case', ['==', ['get', 'rly'], true], RELAY_ENGAGED_COLOR, '#ffffff'],
        'circle-stroke-width': ['case', ['==', ['get', 'rly'], true], 2.5, 1.2],
      },
    });

    const onClick = (e: MapMouseEvent) => {
      const { x, y } = e.point;
      const hits = map.queryRenderedFeatures(
        [
          [x - HIT_TOLERANCE, y - HIT_TOLERANCE],
          [x + HIT_TOLERANCE, y + HIT_TOLERANCE],
        ],
        { layers: [MACHINES_LAYER] },
      );
      const id = hits[0]?.properties.deviceId;
      onSelectRef.current?.(typeof id === 'string' ? id : null);
    };
    const canvas = map.getCanvas();
    const onEnter = () => {
      canvas.style.cursor = 'pointer';
    };
    const onLeave = () => {
      canvas.style.cursor = '';
    };
    map.on('click', onClick);
    map.on('mouseenter', MACHINES_LAYER, onEnter);
    map.on('mouseleave', MACHINES_LAYER, onLeave);

    return () => {
      map.off('click', onClick);
      map.off('mouseenter', MACHINES_LAYER, onEnter);
      map.off('mouseleave', MACHINES_LAYER, onLeave);
      onLeave();
      removeOwn();
    };
  }, [map]);

  useEffect(() => {
    if (!canEditStyle(map)) return;
    const source = map.getSource<GeoJSONSource>(MACHINES_SOURCE);
    if (source === undefined) return;
    let current = true;
    source.setData(collection).then(
      () => {
        if (current && isMapAlive(map)) onAppliedRef.current?.(collection);
      },
      (e: unknown) => {
        if (current && isMapAlive(map)) console.warn('machines source rejected an update', e);
      },
    );
    return () => {
      current = false;
    };
  }, [map, collection]);

  return null;
}
