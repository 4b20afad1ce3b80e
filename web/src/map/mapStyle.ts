/** Which basemap to use: MAP_STYLE_URL when the api has one, else the offline style. */
import type { StyleSpecification } from 'maplibre-gl';
import { fetchConfig } from '../api.ts';

/** Sea only: what is left if even the bundled atlas fails to load. Machines still show. */
const BARE_STYLE: StyleSpecification = {
  version: 8,
  sources: {},
  layers: [{ id: 'sea', type: 'background', paint: { 'background-color': '#c9dcea' } }],
};

/** Never rejects: a map with the machines on a bare background beats no map. */
export async function resolveMapStyle(): Promise<StyleSpecification | string> {
  let mapStyleUrl: string | null = null;
  try {
    ({ mapStyleUrl } = await fetchConfig());
  } catch (e) {
    // The map is still useful without the api's opinion on basemaps.
    console.warn('GET /api/config failed; using the offline basemap', e);
  }
  if (mapStyleUrl !== null) {
    // A style that cannot even be fetched would leave no map at all (machines included).
    const reachable = await fetch(mapStyleUrl, { signal: AbortSignal.timeout(5000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (reachable) return mapStyleUrl;
    console.warn(`map style ${mapStyleUrl} is unreachable; using the offline basemap`);
  }
  // A separate chunk: deployments with their own tiles never download the atlas.
  try {
    const { loadOfflineStyle } = await import('./offlineStyle.ts');
    return await loadOfflineStyle();
  } catch (e) {
    console.error('offline basemap failed to load', e);
    return BARE_STYLE;
  }
}
