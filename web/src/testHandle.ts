/**
 * A handle for browser tests (and curious operators in the console): `window.__recovery`.
 * `renderedMachineIds()` is what the map has actually drawn in the current view, so a test can
 * wait on the real rendering rather than on a timer.
 */
import type { Map as MapLibreMap } from 'maplibre-gl';
import type { LiveController } from './live/controller.ts';
import { MACHINES_LAYER } from './map/MachinesLayer.tsx';
import { canEditStyle } from './map/MapView.tsx';

export interface RecoveryHandle {
  map: MapLibreMap;
  /** Machines in the live store (what the source gets next). */
  machineCount(): number;
  /** Distinct deviceIds among the rendered features of the machines layer. */
  renderedMachineIds(): string[];
}

declare global {
  interface Window {
    __recovery?: RecoveryHandle;
  }
}

export function exposeTestHandle(map: MapLibreMap, live: LiveController): () => void {
  const handle: RecoveryHandle = {
    map,
    machineCount: () => live.fleet.get().collection.features.length,
    renderedMachineIds() {
      if (!canEditStyle(map) || !map.getLayer(MACHINES_LAYER)) return [];
      const ids = new Set<string>();
      for (const f of map.queryRenderedFeatures({ layers: [MACHINES_LAYER] })) {
        const id = f.properties.deviceId;
        if (typeof id === 'string') ids.add(id);
      }
      return [...ids];
    },
  };
  window.__recovery = handle;
  return () => {
    if (window.__recovery === handle) delete window.__recovery;
  };
}
