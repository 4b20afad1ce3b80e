/**
 * The api's edges: security headers with a Content-Security-Policy on every answer (HSTS only over
 * TLS), budgets on sign-in, imports and track queries, /metrics behind its token, /docs off when
 * asked.
 */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, createTestUser, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

const METRICS_TOKEN = 'scrape-token-0123456789abcdef';

describe(`the api's edges on ${engineName}`, () => {
  let t: TestApp;

  beforeAll(async () => {
    const metrics = new Registry();
    t = await startTestApp({
      metrics,
      metricsToken: METRICS_TOKEN,
      docs: false,
      proxyHops: 1,
      mapStyleUrl: 'https://tiles.example.com/styles/basic.json',
      rateLimits: {
        limits: {
          signIn: { max: 3, windowSeconds: 60 },
          imports: { max: 1, windowSeconds: 60 },
          tracks: { max: 2, windowSeconds: 60 },
        },
      },
    });
  });
  afterAll(() => t?.close());

  it('sends a Content-Security-Policy the map can run under, nosniff and no framing', async () => {
    for (const url of ['/api/health', '/', '/api/no-such-route']) {
      const res = await t.app.inject({ url });
      const csp = String(res.headers['content-security-policy']);
      expect(csp, url).toContain("default-src 'self'");
      expect(csp, url).toContain("script-src 'self';");
      expect(csp, url).toContain("worker-src 'self';");
      expect(csp, url).toContain("img-src 'self' data: blob: https://tiles.example.com");
      expect(csp, url).toContain("connect-src 'self' https://tiles.example.com");
      expect(csp, url).toContain("frame-ancestors 'none'");
      expect(csp, url).toContain("object-src 'none'");
      expect(csp, url).not.toContain('unsafe-inline');
      expect(csp, url).not.toContain('upgrade-insecure-requests');
      expect(res.headers['x-content-type-options'], url).toBe('nosniff');
      expect(res.headers['x-frame-options'], url).toBe('DENY');
    }
  });

  it('sends HSTS only when the request came over TLS', async () => {
    const plain = await t.app.inject({ url: '/api/health' });
    expect(plain.headers['strict-transport-security']).toBeUndefined();
    const tls = await t.app.inject({ url: '/api/health', headers: { 'x-forwarded-proto': 'https' } });
    expect(tls.headers['strict-transport-security']).toMatch(/^max-age=31536000/);
  });

  it('limits sign-in attempts per client address, whatever the name', async () => {
    const user = await createTestUser(t.db, 'collector');
    const login = (username: string, address: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/auth/login',
        headers: { 'x-forwarded-for': address },
        payload: { username, password: username === user.username ? user.password : 'wrong' },
      });
    for (const name of ['a', 'b', 'c']) expect((await login(name, '198.51.100.7')).statusCode).toBe(401);
    const refused = await login(user.username, '198.51.100.7');
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toMatch(/^too many requests: try again in/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // Another address has its own budget.
    expect((await login(user.username, '198.51.100.8')).statusCode).toBe(200);
  });

  it('limits track queries and imports per user', async () => {
    const a = (await signedInAs(t.app, t.db, 'risk_manager')).token;
    const b = (await signedInAs(t.app, t.db, 'risk_manager')).token;
    const track = (token: string) =>
      t.app.inject({ url: '/api/devices/NO-SUCH-DEVICE/track?format=gpx', headers: authHeader(token) });
    expect((await track(a)).statusCode).toBe(404);
    expect((await track(a)).statusCode).toBe(404);
    expect((await track(a)).statusCode).toBe(429);
    expect((await track(b)).statusCode).toBe(404);

    const csvImport = (token: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/contracts/import',
        headers: { ...authHeader(token), 'content-type': 'text/csv' },
        payload: 'number\n',
      });
    expect((await csvImport(a)).statusCode).not.toBe(429);
    expect((await csvImport(a)).statusCode).toBe(429);
    expect((await csvImport(b)).statusCode).not.toBe(429);
  });

  it('serves /metrics only with the scrape token', async () => {
    const scrape = (authorization?: string) =>
      t.app.inject({ url: '/metrics', headers: authorization ? { authorization } : {} });
    expect((await scrape()).statusCode).toBe(401);
    expect((await scrape('Bearer wrong-token-0123456789abcdef')).statusCode).toBe(401);
    const ok = await scrape(`Bearer ${METRICS_TOKEN}`);
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['content-type']).toMatch(/^text\/plain/);
  });

  it('serves no /docs when they are off', async () => {
    expect((await t.app.inject({ url: '/docs' })).statusCode).toBe(404);
    expect((await t.app.inject({ url: '/docs/json' })).statusCode).toBe(404);
  });
});
