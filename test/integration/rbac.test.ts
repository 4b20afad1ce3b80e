/**
 * The access matrix: every route the app registers, called as each of the five roles and with no
 * token. Routes are read from the app's own table (filled as routes register), so a route added
 * later is covered without touching this file: no token → 401 unless public; a role the route does
 * not list → 403; a role it lists → anything but 401/403 (a 400 or 404 for the dummy id and empty
 * body means the call was let through).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RouteAccess } from '../../api/auth/access.ts';
import { ROLES, type Role } from '../../shared/roles.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

const DUMMY_ID = '00000000-0000-4000-8000-000000000000';
const concrete = (url: string) =>
  url.replace(/:[A-Za-z0-9_]+(\([^)]*\))?/g, DUMMY_ID).replace(/\*$/, 'anything');
const sendsBody = (method: string) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);

describe(`access matrix (${engineName})`, () => {
  let t: TestApp;
  const tokens = new Map<Role, string>();

  beforeAll(async () => {
    t = await startTestApp();
    const signedIn = await Promise.all(ROLES.map((role) => signedInAs(t.app, t.db, role)));
    for (const [i, role] of ROLES.entries()) tokens.set(role, signedIn[i]!.token);
  });
  afterAll(async () => {
    await t?.close();
  });

  const call = (route: RouteAccess, token: string | null) =>
    t.app.inject({
      method: route.method as 'GET',
      url: concrete(route.url),
      headers: token ? authHeader(token) : {},
      ...(sendsBody(route.method) ? { payload: {} } : {}),
    });

  it('covers the routes the app has, each with a declaration', () => {
    const urls = t.app.routeAccess.map((r) => `${r.method} ${r.url}`);
    for (const known of [
      'POST /api/auth/login',
      'GET /api/auth/me',
      'GET /api/health',
      'GET /api/map/machines',
      'POST /api/devices/:id/disable',
      'POST /api/devices/:id/enable',
    ]) {
      expect(urls).toContain(known);
    }
    for (const r of t.app.routeAccess) {
      if (r.url.startsWith('/api/') || r.url === '/metrics')
        expect(r.access, `${r.method} ${r.url}`).toBeDefined();
    }
  });

  it('answers every route × every role as declared', async () => {
    const wrong: string[] = [];
    for (const route of t.app.routeAccess) {
      // Signing out ends the caller's token, which the rest of the matrix needs (sessions.test.ts).
      if (`${route.method} ${route.url}` === 'POST /api/auth/logout') continue;
      const access = route.access ?? 'public';
      const anonymous = await call(route, null);
      const expectAnonymous = access === 'public' ? 'not 401/403' : '401';
      if (access === 'public' ? [401, 403].includes(anonymous.statusCode) : anonymous.statusCode !== 401) {
        wrong.push(
          `${route.method} ${route.url} without a token: ${anonymous.statusCode}, expected ${expectAnonymous}`,
        );
      }
      for (const role of ROLES) {
        const res = await call(route, tokens.get(role)!);
        const allowed = access === 'public' || access.includes(role);
        const ok = allowed ? ![401, 403].includes(res.statusCode) : res.statusCode === 403;
        if (!ok) {
          wrong.push(
            `${route.method} ${route.url} as ${role}: ${res.statusCode} ${res.body.slice(0, 120)}, expected ${allowed ? 'let through' : '403'}`,
          );
        }
      }
    }
    const guarded = t.app.routeAccess.filter((r) => (r.access ?? 'public') !== 'public').length;
    console.log(
      `access matrix: ${t.app.routeAccess.length} routes (${guarded} guarded) × ${ROLES.length} roles and no token`,
    );
    expect(wrong).toEqual([]);
  });

  it('gives the auditor no route that changes anything', () => {
    const writes = t.app.routeAccess.filter(
      (r) =>
        !['GET', 'HEAD', 'OPTIONS'].includes(r.method) &&
        r.access !== 'public' &&
        r.access?.includes('auditor'),
    );
    expect(writes).toEqual([]);
  });

  it('lets every role see the map, and nobody without a token', async () => {
    for (const role of ROLES) {
      const res = await t.app.inject({ url: '/api/map/machines', headers: authHeader(tokens.get(role)!) });
      expect(res.statusCode, role).toBe(200);
    }
    const anonymous = await t.app.inject({ url: '/api/map/machines' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toEqual({ message: expect.any(String) });
  });
});
