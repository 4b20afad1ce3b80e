/** Entry point: languages, the basemap; once someone signs in, the live fleet and the app. */
import './zod-jitless.ts';
import 'maplibre-gl/dist/maplibre-gl.css';
import './styles.css';
import './layout.css';
import { setWorkerUrl } from 'maplibre-gl';
// MapLibre 6 finds its worker next to its own module, which a bundle moves; point it at the copy.
import maplibreWorkerUrl from 'maplibre-gl/dist/maplibre-gl-worker.mjs?url';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { fetchMachines } from './api.ts';
import { SignedIn } from './auth/SignedIn.tsx';
import type { Session } from './auth/session.ts';
import { abilitiesOf } from './common/abilities.ts';
import { ErrorBoundary } from './ErrorBoundary.tsx';
import './i18n/index.ts';
import { LiveController } from './live/controller.ts';
import { LiveProvider } from './live/LiveContext.tsx';
import { connectLiveSocket } from './live/socket.ts';
import { resolveMapStyle } from './map/mapStyle.ts';

setWorkerUrl(new URL(maplibreWorkerUrl, document.baseURI).href);

// The basemap loads while the login screen shows (it needs no sign-in: it is static or third-party).
const mapStyle = resolveMapStyle();

/** One live controller per session: its socket carries that session's token. */
const signedInApp = (session: Session) => {
  const live = new LiveController({
    connect: connectLiveSocket,
    fetchFleet: (minStage, signal) => fetchMachines(minStage, signal),
    minStage: abilitiesOf(session.user.roles).mapMinStage,
    onError: (message, error) => console.warn(message, error),
  });
  return (
    <LiveProvider controller={live}>
      <App mapStyle={mapStyle} user={session.user} />
    </LiveProvider>
  );
};

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <ErrorBoundary>
      <SignedIn>{signedInApp}</SignedIn>
    </ErrorBoundary>
  </StrictMode>,
);
