/** The recovery map page: the map with its layers, the floating panel, the selected machine. */
import type { StyleSpecification } from 'maplibre-gl';
import { type ReactNode, Suspense, use, useCallback, useEffect, useMemo, useState } from 'react';
import type { MachineCollection } from '../../shared/map.ts';
import { useConnection, useFleet, useLive } from './live/LiveContext.tsx';
import { MachinePopup } from './map/MachinePopup.tsx';
import { MachinesLayer } from './map/MachinesLayer.tsx';
import { MapView, useMap } from './map/MapView.tsx';
import { MapPanel } from './panel/MapPanel.tsx';
import { exposeTestHandle } from './testHandle.ts';

export interface AppProps {
  /** The basemap, as it resolves (see map/mapStyle.ts; it does not reject). */
  mapStyle: Promise<StyleSpecification | string>;
}

export function App({ mapStyle }: AppProps) {
  const live = useLive();
  const fleet = useFleet();
  const connection = useConnection();
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const [drawnCount, setDrawnCount] = useState<number | null>(null);

  const selected = useMemo(
    () =>
      selectedId === null
        ? undefined
        : fleet.collection.features.find((f) => f.properties.deviceId === selectedId),
    [fleet.collection, selectedId],
  );

  const { loaded } = fleet;
  useEffect(() => {
    if (!loaded) setDrawnCount(null);
  }, [loaded]);
  const onApplied = useCallback(
    (collection: MachineCollection) => {
      if (loaded) setDrawnCount(collection.features.length);
    },
    [loaded],
  );
  const closePopup = useCallback(() => setSelectedId(null), []);

  return (
    <main className="app">
      <Suspense fallback={<div className="map map--loading" data-testid="map" data-ready="false" />}>
        <StyledMapView mapStyle={mapStyle}>
          <MachinesLayer collection={fleet.collection} onSelect={setSelectedId} onApplied={onApplied} />
          <MachinePopup machine={selected} onClose={closePopup} />
          <TestHandle />
        </StyledMapView>
      </Suspense>
      <MapPanel
        shownCount={drawnCount}
        minStage={fleet.minStage}
        onMinStageChange={(stage) => live.setMinStage(stage)}
        connection={connection}
      />
    </main>
  );
}

function StyledMapView({ mapStyle, children }: AppProps & { children: ReactNode }) {
  return <MapView mapStyle={use(mapStyle)}>{children}</MapView>;
}

function TestHandle() {
  const map = useMap();
  const live = useLive();
  useEffect(() => exposeTestHandle(map, live), [map, live]);
  return null;
}
