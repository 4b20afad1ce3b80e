/** The REST calls the web app makes. Same origin: the api serves the app (vite proxies in dev). */
import type { MachineCollection, Stage } from '../../shared/map.ts';

/** `GET /api/config`: what the app needs to know at start. */
export interface WebConfig {
  /** A MapLibre style URL to use instead of the offline basemap; null = offline. */
  mapStyleUrl: string | null;
}

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, signal: signal ?? null });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export async function fetchConfig(signal?: AbortSignal): Promise<WebConfig> {
  const c = await getJson<Partial<WebConfig>>('/api/config', signal);
  return { mapStyleUrl: typeof c.mapStyleUrl === 'string' && c.mapStyleUrl !== '' ? c.mapStyleUrl : null };
}

export function fetchMachines(minStage: Stage, signal?: AbortSignal): Promise<MachineCollection> {
  return getJson<MachineCollection>(`/api/map/machines?minStage=${minStage}`, signal);
}
