import { describe, expect, it } from 'vitest';
import { parseRoute, type Route, routeHash, routePage } from './route.ts';

describe('hash routes', () => {
  it('round-trips every place, ids with odd characters included', () => {
    const routes: Route[] = [
      { page: 'map', deviceId: null },
      { page: 'map', deviceId: 'dev/0001 x' },
      { page: 'contract', contractId: 'HT-2026-01' },
      { page: 'nearest' },
      { page: 'accounts' },
      { page: 'approvals' },
      { page: 'alerts' },
      { page: 'audit' },
    ];
    for (const r of routes) expect(parseRoute(routeHash(r))).toEqual(r);
  });

  it('has no route for an empty or unknown hash, so the role home applies', () => {
    expect(parseRoute('')).toBeNull();
    expect(parseRoute('#/')).toBeNull();
    expect(parseRoute('#/nowhere')).toBeNull();
  });

  it('files a case file under the accounts page', () => {
    expect(routePage({ page: 'contract', contractId: 'c1' })).toBe('accounts');
    expect(parseRoute('#/contracts')).toEqual({ page: 'accounts' });
  });
});
