/**
 * Sign-in and the access hook on a real database: login answers, and the hook's 401/403 for
 * expired, forged, disabled and deleted users' tokens, on a small app with restricted routes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessDeclarationError, installAccessControl } from '../../api/auth/access.ts';
import { createAuth } from '../../api/auth/service.ts';
import { createTokens, TOKEN_ISSUER } from '../../api/auth/tokens.ts';
import { deleteUser, disableUser } from '../../api/auth/users.ts';
import type { Role } from '../../shared/roles.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, createTestUser, loginAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

describe(`sign-in (${engineName})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('returns a token, the user and the expiry for a right password', async () => {
    const u = await createTestUser(t.db, ['risk_manager', 'collector']);
    const before = Date.now();
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: ` ${u.username.toUpperCase()} `, password: u.password },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.user).toEqual({
      id: u.user.id,
      username: u.username,
      name: u.user.name,
      roles: ['risk_manager', 'collector'],
      scope: { kind: 'all' },
    });
    const expires = Date.parse(body.expiresAt);
    expect(expires).toBeGreaterThan(before + 3500_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 3600_000);
    const me = await t.app.inject({ url: '/api/auth/me', headers: authHeader(body.token) });
    expect(me.statusCode).toBe(200);
    expect(me.json()).toEqual(body.user);
  });

  it('answers a wrong password and an unknown user with the same 401', async () => {
    const u = await createTestUser(t.db, 'collector');
    const wrong = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: u.username, password: `${u.password}x` },
    });
    const unknown = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: 'nobody-here', password: u.password },
    });
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(wrong.json()).toEqual(unknown.json());
    expect(JSON.stringify(wrong.json())).not.toContain('token');
  });

  it('refuses a disabled user at login, with the same message', async () => {
    const u = await createTestUser(t.db, 'collector');
    await disableUser(t.db, u.user.id);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/auth/login',
      payload: { username: u.username, password: u.password },
    });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ message: 'wrong username or password' });
  });

  it('rejects a login without a password as a 400 naming the field', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain('password');
  });
});

describe(`access hook (${engineName})`, () => {
  let t: TestApp;
  let app: FastifyInstance;
  const guarded = (allowed: Role[]) => ({ config: { access: allowed } });

  beforeAll(async () => {
    t = await startTestApp();
    app = Fastify();
    installAccessControl(app, t.auth.authenticate);
    app.get('/api/risk', guarded(['risk_manager']), async (request) => ({ who: request.user.username }));
    app.post('/api/collect', guarded(['collector', 'admin']), async (request) => ({
      who: request.user.username,
    }));
    app.get('/api/open', { config: { access: 'public' } }, async () => ({ open: true }));
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await t?.close();
  });

  it('lets an allowed role through with request.user set, and refuses another role with 403', async () => {
    const risk = await createTestUser(t.db, 'risk_manager');
    const { token } = await loginAs(t.app, risk.username, risk.password);
    const ok = await app.inject({ url: '/api/risk', headers: authHeader(token) });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ who: risk.username });
    const refused = await app.inject({ method: 'POST', url: '/api/collect', headers: authHeader(token) });
    expect(refused.statusCode).toBe(403);
    expect(refused.json()).toEqual({ message: expect.stringContaining('POST /api/collect') });
  });

  it('answers 401 without a token, with a malformed header, and lets public routes be', async () => {
    expect((await app.inject({ url: '/api/risk' })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/risk', headers: { authorization: 'Basic abc' } })).statusCode).toBe(
      401,
    );
    expect((await app.inject({ url: '/api/risk', headers: authHeader('not-a-jwt') })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/open' })).statusCode).toBe(200);
  });

  it('answers 401 for an expired token', async () => {
    const risk = await createTestUser(t.db, 'risk_manager');
    const past = createTokens({ secret: t.secret, ttlSeconds: 60, now: () => Date.now() - 2 * 3600_000 });
    const { token } = await past.sign(risk.user.id);
    const res = await app.inject({ url: '/api/risk', headers: authHeader(token) });
    expect(res.statusCode).toBe(401);
    // The same user with a fresh token gets in: it was the expiry that counted.
    const fresh = await t.tokens.sign(risk.user.id);
    expect((await app.inject({ url: '/api/risk', headers: authHeader(fresh.token) })).statusCode).toBe(200);
  });

  it('answers 401 for a token signed with another secret or another algorithm', async () => {
    const risk = await createTestUser(t.db, 'risk_manager');
    const other = createTokens({ secret: 'another-secret-of-at-least-32-characters!', ttlSeconds: 600 });
    const forged = (await other.sign(risk.user.id)).token;
    expect((await app.inject({ url: '/api/risk', headers: authHeader(forged) })).statusCode).toBe(401);

    const good = (await t.tokens.sign(risk.user.id)).token;
    const [header, payload, signature] = good.split('.') as [string, string, string];
    const flipped = `${signature.slice(0, -2)}${signature.endsWith('AA') ? 'BB' : 'AA'}`;
    expect(
      (await app.inject({ url: '/api/risk', headers: authHeader(`${header}.${payload}.${flipped}`) }))
        .statusCode,
    ).toBe(401);

    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${payload}.`;
    expect((await app.inject({ url: '/api/risk', headers: authHeader(none) })).statusCode).toBe(401);

    const hs512 = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject(risk.user.id)
      .setIssuer(TOKEN_ISSUER)
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode(t.secret));
    expect((await app.inject({ url: '/api/risk', headers: authHeader(hs512) })).statusCode).toBe(401);
  });

  it('answers 401 for the token of a user disabled or deleted since signing in', async () => {
    const disabled = await createTestUser(t.db, 'risk_manager');
    const deleted = await createTestUser(t.db, 'risk_manager');
    const disabledToken = (await loginAs(t.app, disabled.username, disabled.password)).token;
    const deletedToken = (await loginAs(t.app, deleted.username, deleted.password)).token;
    expect((await app.inject({ url: '/api/risk', headers: authHeader(disabledToken) })).statusCode).toBe(200);

    await disableUser(t.db, disabled.user.id);
    await deleteUser(t.db, deleted.user.id);
    expect((await app.inject({ url: '/api/risk', headers: authHeader(disabledToken) })).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/risk', headers: authHeader(deletedToken) })).statusCode).toBe(401);
  });

  it('reads roles from the database, so a role taken away applies to tokens already issued', async () => {
    const u = await createTestUser(t.db, ['risk_manager', 'collector']);
    const { token } = await loginAs(t.app, u.username, u.password);
    await t.db.query(`update app_user set roles = array['collector'] where id = $1`, [u.user.id]);
    expect((await app.inject({ url: '/api/risk', headers: authHeader(token) })).statusCode).toBe(403);
  });

  it('refuses at registration a route without a declaration, or granting the auditor a write', async () => {
    const bare = Fastify();
    installAccessControl(bare, createAuth(t.db, t.tokens).authenticate);
    expect(() => bare.get('/api/undeclared', async () => ({}))).toThrow(AccessDeclarationError);
    expect(() => bare.get('/metrics', async () => ({}))).toThrow(/declares no access/);
    expect(() => bare.post('/api/x', { config: { access: ['auditor'] } }, async () => ({}))).toThrow(
      /read-only/,
    );
    expect(() => bare.get('/api/y', { config: { access: [] } }, async () => ({}))).toThrow(/non-empty/);
    expect(() => bare.get('/api/z', { config: { access: ['boss' as Role] } }, async () => ({}))).toThrow(
      /unknown role/,
    );
    // Outside /api (static files, the web app's routes) nothing is required.
    expect(() => bare.get('/about', async () => ({}))).not.toThrow();
    await bare.close();
  });
});
