/**
 * The fleet as circles: fill by escalation stage, a dark ring when the relay is engaged, faded when
 * not seen for a day (`age`, fleetView.ts). A large fleet is clustered in MapLibre's worker; a
 * cluster is a bigger circle in the colour of its worst stage, sized by its count (no glyphs on the
 * offline basemap, so no number on it), and a click zooms into it. One effect owns the source and
 * layers, the other pushes each new collection into the source.
 */
import type { ExpressionSpecification, GeoJSONSource, MapMouseEvent } from 'maplibre-gl';
import { useEffect, useRef } from 'react';
import type { MachineCollection } from '../../../shared/map.ts';
import { NO_CONTRACT_COLOR, RELAY_ENGAGED_COLOR, STAGE_COLORS } from '../common/stage.ts';
import { shouldCluster } from './fleetView.ts';
import { canEditStyle, isMapAlive, useMap } from './MapView.tsx';

export const MACHINES_SOURCE = 'machines';
export const MACHINES_LAYER = 'machines';
export const CLUSTERS_LAYER = 'machine-clusters';
const CLUSTER_RADIUS = 40;
const CLUSTER_MAX_ZOOM = 11;

const stageColor = (stage: ExpressionSpecification): ExpressionSpecification => [
  'match',
  stage,
  0,
  STAGE_COLORS[0],
  1,
  STAGE_COLORS[1],
  2,
  STAGE_COLORS[2],
  3,
  STAGE_COLORS[3],
  NO_CONTRACT_COLOR,
];

/** How far from a click (px) a machine still counts as hit: fingers are not precise. */
const HIT_TOLERANCE = 6;
const EMPTY: MachineCollection = { type: 'FeatureCollection', features: [] };

export interface MachinesLayerProps {
  /** The machines to draw; features may carry `age` (0-2) for fading. */
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
  const clusteredRef = useRef(false);
  useEffect(() => {
    onSelectRef.current = onSelect;
    onAppliedRef.current = onApplied;
  });

  useEffect(() => {
    const removeOwn = () => {
      if (!canEditStyle(map)) return;
      if (map.getLayer(MACHINES_LAYER)) map.removeLayer(MACHINES_LAYER);
      if (map.getLayer(CLUSTERS_LAYER)) map.removeLayer(CLUSTERS_LAYER);
      if (map.getSource(MACHINES_SOURCE)) map.removeSource(MACHINES_SOURCE);
    };
    clusteredRef.current = false;
    removeOwn(); // left over from a style restored after a lost WebGL context
    map.addSource(MACHINES_SOURCE, {
      type: 'geojson',
      data: EMPTY,
      promoteId: 'deviceId',
      cluster: false,
      clusterRadius: CLUSTER_RADIUS,
      clusterMaxZoom: CLUSTER_MAX_ZOOM,
      clusterProperties: { worstStage: ['max', ['coalesce', ['get', 'stage'], -1]] },
    });
    map.addLayer({
      id: CLUSTERS_LAYER,
      type: 'circle',
      source: MACHINES_SOURCE,
      filter: ['has', 'point_count'],
      paint: {
        'circle-color': stageColor(['get', 'worstStage']),
        'circle-opacity': 0.85,
        'circle-radius': [
          'interpolate',
          ['linear'],
          ['get', 'point_count'],
          2,
          9,
          100,
          15,
          1000,
          22,
          10000,
          30,
        ],
        'circle-stroke-color': '#ffffff',
        'circle-stroke-width': 2,
      },
    });
    map.addLayer({
      id: MACHINES_LAYER,
      type: 'circle',
      source: MACHINES_SOURCE,
      filter: ['!', ['has', 'point_count']],
      // Worse stages are drawn on top of better ones.
      layout: { 'circle-sort-key': ['coalesce', ['get', 'stage'], -1] },
      paint: {
        'circle-color': stageColor(['coalesce', ['get', 'stage'], -1]),
        'circle-opacity': ['match', ['coalesce', ['get', 'age'], 0], 2, 0.45, 1],
        'circle-stroke-opacity': ['match', ['coalesce', ['get', 'age'], 0], 2, 0.6, 1],
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
        { layers: [MACHINES_LAYER, CLUSTERS_LAYER] },
      );
      const hit = hits[0];
      const clusterId = hit?.properties.cluster_id;
      if (typeof clusterId === 'number' && hit?.geometry.type === 'Point') {
        const center = hit.geometry.coordinates as [number, number];
        void map
          .getSource<GeoJSONSource>(MACHINES_SOURCE)
          ?.getClusterExpansionZoom(clusterId)
          .then((zoom) => map.easeTo({ center, zoom }));
        return;
      }
      const id = hit?.properties.deviceId;
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
    for (const layer of [MACHINES_LAYER, CLUSTERS_LAYER]) {
      map.on('mouseenter', layer, onEnter);
      map.on('mouseleave', layer, onLeave);
    }

    return () => {
      map.off('click', onClick);
      for (const layer of [MACHINES_LAYER, CLUSTERS_LAYER]) {
        map.off('mouseenter', layer, onEnter);
        map.off('mouseleave', layer, onLeave);
      }
      onLeave();
      removeOwn();
    };
  }, [map]);

  useEffect(() => {
    if (!canEditStyle(map)) return;
    const source = map.getSource<GeoJSONSource>(MACHINES_SOURCE);
    if (source === undefined) return;
    let current = true;
    const cluster = shouldCluster(collection.features.length);
    const ready =
      cluster === clusteredRef.current ? Promise.resolve() : source.setClusterOptions({ cluster });
    clusteredRef.current = cluster;
    ready
      .then(() => source.setData(collection))
      .then(
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
