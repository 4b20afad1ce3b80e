/**
 * The one MapLibre map. Created once when MapView mounts (the app keeps it mounted) and handed to
 * its children through context once the style has loaded (not waiting for the basemap's tiles). Children are layers and controls that
 * render nothing: each adds its sources/layers in an effect and removes them in the cleanup, as in
 * traccar-web, so features come and go with components.
 */
import {
  AttributionControl,
  Map as MapLibreMap,
  NavigationControl,
  ScaleControl,
  type StyleSpecification,
} from 'maplibre-gl';
import { createContext, type ReactNode, useContext, useEffect, useRef, useState } from 'react';

/** Mainland China with Hainan and the north-east, west to Xinjiang. */
export const CHINA_BOUNDS: [[number, number], [number, number]] = [
  [73.5, 18.0],
  [134.8, 53.6],
];

const MapContext = createContext<MapLibreMap | null>(null);

/** The map, inside MapView's children only (they render while the style is loaded). */
export function useMap(): MapLibreMap {
  const map = useContext(MapContext);
  if (map === null) throw new Error('useMap() outside <MapView>');
  return map;
}

const removedMaps = new WeakSet<MapLibreMap>();

/** False once MapView has removed the map. */
export function isMapAlive(map: MapLibreMap): boolean {
  return !removedMaps.has(map);
}

/**
 * Whether sources and layers can be touched now. Not after MapView removed the map (React runs a
 * parent's effect cleanups before its children's), nor while the WebGL context is lost (MapLibre
 * then has no style at all, whatever its typings say).
 */
export function canEditStyle(map: MapLibreMap): boolean {
  return isMapAlive(map) && (map.style as unknown) != null;
}

export interface MapViewProps {
  /** A style URL (MAP_STYLE_URL) or the offline style object; read once, at creation. */
  mapStyle: StyleSpecification | string;
  children?: ReactNode;
}

export function MapView({ mapStyle, children }: MapViewProps) {
  const containerRef = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<MapLibreMap | null>(null);

  useEffect(() => {
    const container = containerRef.current;
    if (container === null) return;
    const m = new MapLibreMap({
      container,
      style: mapStyle,
      bounds: CHINA_BOUNDS,
      fitBoundsOptions: { padding: 16 },
      // Controls and credits sit on the left: the machine panel covers the right-hand side.
      attributionControl: false,
      // A fleet map is read north-up: no rotation or tilt to get lost in.
      dragRotate: false,
      pitchWithRotate: false,
      touchPitch: false,
      maxPitch: 0,
    });
    m.touchZoomRotate.disableRotation();
    m.keyboard.disableRotation();
    m.addControl(new AttributionControl({ compact: true }), 'bottom-left');
    m.addControl(new ScaleControl({ unit: 'metric' }), 'bottom-left');
    m.addControl(new NavigationControl({ showCompass: false }), 'bottom-left');
    // Children mount when the style is ready and remount after the browser took the WebGL context
    // away (phones do when backgrounded): MapLibre then rebuilds the style from a snapshot taken
    // at the loss, so a layer must expect to find its own source already there.
    const ready = () => {
      if (isMapAlive(m)) setMap(m);
    };
    const notReady = () => setMap(null);
    m.on('style.load', ready);
    m.on('webglcontextlost', notReady);
    return () => {
      removedMaps.add(m);
      setMap(null);
      m.remove();
    };
  }, [mapStyle]);

  return (
    <>
      <div
        ref={containerRef}
        className="map"
        data-testid="map"
        data-ready={map !== null ? 'true' : 'false'}
      />
      {map !== null && <MapContext value={map}>{children}</MapContext>}
    </>
  );
}
