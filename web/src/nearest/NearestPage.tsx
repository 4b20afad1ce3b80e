/** The browser's location → stage-3 machines nearest first; a tap shows one on the map. */
import { useState } from 'react';
import type { NearestMachine } from '../../../shared/api/location.ts';
import { getJson } from '../api.ts';
import { navigate } from '../common/route.ts';
import { useFormat } from '../i18n/index.ts';

type State =
  | { kind: 'idle' }
  | { kind: 'locating' }
  | { kind: 'error'; message: string }
  | { kind: 'done'; lat: number; lon: number; machines: NearestMachine[] };

export function NearestPage() {
  const f = useFormat();
  const { t } = f;
  const [state, setState] = useState<State>({ kind: 'idle' });
  const locate = () => {
    setState({ kind: 'locating' });
    navigator.geolocation.getCurrentPosition(
      async ({ coords }) => {
        try {
          const q = new URLSearchParams({
            lat: String(coords.latitude),
            lon: String(coords.longitude),
            minStage: '3',
            limit: '50',
          });
          const machines = await getJson<NearestMachine[]>(`/api/recovery/nearest?${q}`);
          setState({ kind: 'done', lat: coords.latitude, lon: coords.longitude, machines });
        } catch (e) {
          setState({ kind: 'error', message: (e as Error).message });
        }
      },
      (e) => setState({ kind: 'error', message: t('nearest.denied', { message: e.message }) }),
      { enableHighAccuracy: true, timeout: 20_000, maximumAge: 60_000 },
    );
  };
  return (
    <div className="nearest" data-testid="nearest-page">
      <header className="page__header">
        <h1>{t('nearest.title')}</h1>
        <button type="button" data-testid="locate" onClick={locate} disabled={state.kind === 'locating'}>
          {state.kind === 'locating' ? t('nearest.locating') : t('nearest.locate')}
        </button>
      </header>
      {state.kind === 'error' && <p className="error">{state.message}</p>}
      {state.kind === 'done' && (
        <>
          <p className="muted">
            {t('nearest.from', { lat: state.lat.toFixed(4), lon: state.lon.toFixed(4) })}
          </p>
          {state.machines.length === 0 && <p>{t('nearest.none')}</p>}
          <ol className="nearest__list" data-testid="nearest-list">
            {state.machines.map((m) => (
              <li key={m.deviceId}>
                <button
                  type="button"
                  className="nearest__item"
                  onClick={() => navigate({ page: 'map', deviceId: m.deviceId })}
                >
                  <strong>{f.distance(m.distanceM)}</strong> {m.compass} · {m.contractNumber} · {m.machineId}
                  <span className="muted"> · {f.ago(m.lastFixAt)}</span>
                </button>
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}
