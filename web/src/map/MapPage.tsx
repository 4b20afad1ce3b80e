/**
 * The recovery map: the map with its layers, the floating filter panel, the selected machine's
 * popup and side panel, and its trail when asked for. The map stays mounted while other pages
 * show (creating a MapLibre map is the slowest thing the app does).
 */
import type { StyleSpecification } from 'maplibre-gl';
import { type ReactNode, Suspense, use, useCallback, useEffect, useMemo, useState } from 'react';
import type { MachineCollection } from '../../../shared/map.ts';
import { navigate } from '../common/route.ts';
import { useFormat } from '../i18n/index.ts';
import { useConnection, useFleet, useLive } from '../live/LiveContext.tsx';
import { MapPanel } from '../panel/MapPanel.tsx';
import { datumOfStyle } from './datum.ts';
import { drawnFleet, type Freshness } from './fleetView.ts';
import { MachinePanel } from './MachinePanel.tsx';
import { MachinePopup } from './MachinePopup.tsx';
import { MachinesLayer } from './MachinesLayer.tsx';
import { MapView, useMap } from './MapView.tsx';
import type { TrailFix } from './playback.ts';
import { ALL_PORTFOLIOS, filterPortfolio, type PortfolioFilter, portfolioOptions } from './portfolio.ts';
import { TrailLayer } from './TrailLayer.tsx';

export interface MapPageProps {
  /** The basemap, as it resolves (see map/mapStyle.ts; it does not reject). */
  mapStyle: Promise<StyleSpecification | string>;
  /** The machine in the URL (#/map/<deviceId>), or null. */
  selectedId: string | null;
  visible: boolean;
}

/** Ages are re-evaluated this often, so a marker fades without new data. */
const AGE_REFRESH_MS = 60_000;

export function MapPage({ mapStyle, selectedId, visible }: MapPageProps) {
  return (
    <Suspense fallback={<div className="map map--loading" data-testid="map" data-ready="false" />}>
      <MapPageLoaded mapStyle={mapStyle} selectedId={selectedId} visible={visible} />
    </Suspense>
  );
}

function MapPageLoaded({ mapStyle, selectedId, visible }: MapPageProps) {
  const live = useLive();
  const fleet = useFleet();
  const connection = useConnection();
  const [drawnCount, setDrawnCount] = useState<number | null>(null);
  const [freshness, setFreshness] = useState<Freshness>('all');
  const [portfolio, setPortfolio] = useState<PortfolioFilter>(ALL_PORTFOLIOS);
  const [clock, setClock] = useState(() => Date.now());
  const [trail, setTrail] = useState<{ fixes: TrailFix[]; at: number | null } | null>(null);

  useEffect(() => {
    const timer = setInterval(() => setClock(Date.now()), AGE_REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  const datum = datumOfStyle(use(mapStyle));
  const { locale } = useFormat();
  // Region and dealer filter the loaded fleet in the browser: a change redraws, nothing reloads.
  const options = useMemo(
    () => portfolioOptions(fleet.collection.features, portfolio, locale),
    [fleet.collection, portfolio, locale],
  );
  const drawn = useMemo(
    () => drawnFleet(filterPortfolio(fleet.collection, portfolio), freshness, clock, datum),
    [fleet.collection, portfolio, freshness, clock, datum],
  );
  const changeRegion = useCallback(
    (province: string | null) =>
      setPortfolio((current) => ({
        province,
        // A dealer of another region would leave nothing to show: the new region's dealers are offered.
        dealerId:
          province === null ||
          fleet.collection.features.some(
            (f) => f.properties.dealerId === current.dealerId && f.properties.province === province,
          )
            ? current.dealerId
            : null,
      })),
    [fleet.collection],
  );
  const changeDealer = useCallback(
    (dealerId: string | null) => setPortfolio((current) => ({ ...current, dealerId })),
    [],
  );

  // The stored (WGS-84) machine for the panel; its drawn twin for the popup and the camera.
  const selected = useMemo(
    () =>
      selectedId === null
        ? undefined
        : fleet.collection.features.find((f) => f.properties.deviceId === selectedId),
    [fleet.collection, selectedId],
  );
  const selectedDrawn = useMemo(
    () =>
      selectedId === null
        ? undefined
        : (drawn.features.find((f) => f.properties.deviceId === selectedId) ?? selected),
    [drawn, selected, selectedId],
  );
  // A new machine starts without the previous one's trail.
  const [trailOf, setTrailOf] = useState(selectedId);
  if (trailOf !== selectedId) {
    setTrailOf(selectedId);
    setTrail(null);
  }

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
  const select = useCallback((deviceId: string | null) => navigate({ page: 'map', deviceId }), []);
  const closePopup = useCallback(() => select(null), [select]);

  return (
    <div className="map-page" hidden={!visible}>
      <StyledMapView mapStyle={mapStyle}>
        <MachinesLayer collection={drawn} onSelect={select} onApplied={onApplied} />
        <MachinePopup machine={selectedDrawn} onClose={closePopup} />
        {trail && <TrailLayer fixes={trail.fixes} at={trail.at} datum={datum} />}
        <FlyTo machine={selectedDrawn} />
        <ResizeOnShow visible={visible} />
        <TestHandle />
      </StyledMapView>
      <MapPanel
        shownCount={drawnCount}
        minStage={fleet.minStage}
        onMinStageChange={(stage) => live.setMinStage(stage)}
        freshness={freshness}
        onFreshnessChange={setFreshness}
        portfolio={portfolio}
        portfolioOptions={options}
        onRegionChange={changeRegion}
        onDealerChange={changeDealer}
        connection={connection}
      />
      {selected && (
        <MachinePanel
          key={selected.properties.deviceId}
          machine={selected}
          onClose={closePopup}
          onTrail={setTrail}
        />
      )}
    </div>
  );
}

function StyledMapView({ mapStyle, children }: { mapStyle: MapPageProps['mapStyle']; children: ReactNode }) {
  return <MapView mapStyle={use(mapStyle)}>{children}</MapView>;
}

/** A machine chosen from elsewhere (a list, a link) is brought into view once. */
function FlyTo({
  machine,
}: {
  machine: ReturnType<typeof useFleet>['collection']['features'][number] | undefined;
}) {
  const map = useMap();
  const id = machine?.properties.deviceId;
  // biome-ignore lint/correctness/useExhaustiveDependencies: once per chosen machine, not per fix
  useEffect(() => {
    if (!machine) return;
    const [lon, lat] = machine.geometry.coordinates as [number, number];
    if (!map.getBounds().contains([lon, lat]))
      map.easeTo({ center: [lon, lat], zoom: Math.max(map.getZoom(), 9) });
  }, [map, id]);
  return null;
}

/** A map created or kept while hidden has the wrong size until told. */
function ResizeOnShow({ visible }: { visible: boolean }) {
  const map = useMap();
  useEffect(() => {
    if (visible) map.resize();
  }, [map, visible]);
  return null;
}

/**
 * `window.__recovery` for the browser tests, only in their build: in a production build the
 * condition is false at build time and the handle's code is left out of the bundle.
 */
function TestHandle() {
  const map = useMap();
  const live = useLive();
  useEffect(() => {
    if (import.meta.env.VITE_TEST_HANDLE !== '1') return;
    let undo: (() => void) | undefined;
    let gone = false;
    void import('../testHandle.ts').then(({ exposeTestHandle }) => {
      if (!gone) undo = exposeTestHandle(map, live);
    });
    return () => {
      gone = true;
      undo?.();
    };
  }, [map, live]);
  return null;
}
