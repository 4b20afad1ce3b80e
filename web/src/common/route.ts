/**
 * The app's places as URL hashes, so a reload, the back button and a shared link keep the place:
 * `#/map`, `#/map/<deviceId>`, `#/nearest`, `#/accounts`, `#/contracts/<id>`, `#/approvals`,
 * `#/alerts`, `#/audit`. Hash routing needs nothing from the server that serves index.html.
 */
import { useSyncExternalStore } from 'react';
import type { Page } from './abilities.ts';

export type Route =
  | { page: 'map'; deviceId: string | null }
  | { page: 'contract'; contractId: string }
  | { page: Exclude<Page, 'map'> };

export function parseRoute(hash: string): Route | null {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [head, arg] = parts;
  switch (head) {
    case undefined:
      return null;
    case 'map':
      return { page: 'map', deviceId: arg ?? null };
    case 'contracts':
      return arg ? { page: 'contract', contractId: arg } : { page: 'accounts' };
    case 'nearest':
    case 'accounts':
    case 'approvals':
    case 'alerts':
    case 'audit':
      return { page: head };
    default:
      return null;
  }
}

export function routeHash(route: Route): string {
  switch (route.page) {
    case 'map':
      return route.deviceId ? `#/map/${encodeURIComponent(route.deviceId)}` : '#/map';
    case 'contract':
      return `#/contracts/${encodeURIComponent(route.contractId)}`;
    default:
      return `#/${route.page}`;
  }
}

/** The page a route belongs to in the navigation (a case file is part of the accounts). */
export function routePage(route: Route): Page {
  return route.page === 'contract' ? 'accounts' : route.page;
}

const subscribe = (listener: () => void) => {
  window.addEventListener('hashchange', listener);
  return () => window.removeEventListener('hashchange', listener);
};

export function useHash(): string {
  return useSyncExternalStore(subscribe, () => window.location.hash);
}

export function navigate(route: Route): void {
  window.location.hash = routeHash(route);
}
