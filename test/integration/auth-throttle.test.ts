/**
 * Sign-in throttling on a real database: the lock after N failures for a user name (known or not)
 * with 429 and Retry-After, a right password refused while locked, the count starting again after a
 * success, the limit per client address, parallel guesses, X-Forwarded-For behind trusted proxies,
 * and the audit rows. Time passes by moving the recorded failures back, not by waiting.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit, verifyAuditChain } from '../../api/audit/log.ts';
import { DEFAULT_LOGIN_THROTTLE, type LoginThrottleSettings } from '../../api/auth/throttle.ts';
import type { ChainedEntry } from '../../shared/audit.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, CHEAP_PASSWORD_COST, createTestUser, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform } from '../support/platform.ts';

// The hash's cost is not what these tests are about; hundreds of full-cost hashes would take a minute.
const cheap = { cost: CHEAP_PASSWORD_COST };

const unique = (what: string) => `${what}-${randomBytes(4).toString('hex')}`;

function login(
  t: TestApp,
  username: string,
  password: string,
  from: { address?: string; forwardedFor?: string } = {},
) {
  return t.app.inject({
    method: 'POST',
    url: '/api/auth/login',
    payload: { username, password },
    ...(from.address ? { remoteAddress: from.address } : {}),
    ...(from.forwardedFor ? { headers: { 'x-forwarded-for': from.forwardedFor } } : {}),
  });
}

/** Makes the recorded failures of a user name `seconds` older, as if that time had passed. */
async function age(t: TestApp, column: 'username' | 'client_address', key: string, seconds: number) {
  await t.db.query(`update login_failure set at = at - $2::int * interval '1 second' where ${column} = $1`, [
    key,
    seconds,
  ]);
}

const entriesSince = async (t: TestApp, seq: number): Promise<ChainedEntry[]> => listAudit(t.db, seq, 1000);
const head = async (t: TestApp) => (await verifyAuditChain(t.db)).count;
const summary = (entries: ChainedEntry[]) => entries.map((e) => [e.action, e.subject, e.detail]);

describe(`sign-in throttling with the defaults (${engineName})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ throttle: DEFAULT_LOGIN_THROTTLE, passwordCost: CHEAP_PASSWORD_COST });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('locks a user name after 5 failures: 429 with Retry-After, even for the right password', async () => {
    const u = await createTestUser(t.db, 'collector', cheap);
    const start = await head(t);
    for (let i = 1; i <= 5; i++) {
      const res = await login(t, u.username, `wrong-${i}`);
      expect(res.statusCode, `failure ${i}`).toBe(401);
    }
    const locked = await login(t, u.username, u.password);
    expect(locked.statusCode).toBe(429);
    expect(locked.json()).toEqual({
      message: expect.stringMatching(
        /^too many failed sign-ins for this user name: try again in 15 minutes$/,
      ),
    });
    const retryAfter = Number(locked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(15 * 60 - 30);
    expect(retryAfter).toBeLessThanOrEqual(15 * 60);
    expect(locked.body).not.toContain('token');
    // Also under another spelling of the same name: names are matched as normalised.
    expect((await login(t, ` ${u.username.toUpperCase()} `, u.password)).statusCode).toBe(429);

    // Audited: five failures and the lock, once; nothing for the attempts refused while locked.
    const entries = await entriesSince(t, start);
    expect(summary(entries)).toEqual([
      ...[1, 2, 3, 4, 5].map(() => [
        'auth.login_failed',
        `user:${u.username}`,
        { reason: 'wrong password', userId: u.user.id },
      ]),
      [
        'auth.lockout',
        `user:${u.username}`,
        { scope: 'user', failures: 5, windowSeconds: 900, address: '127.0.0.1' },
      ],
    ]);
    expect(entries.every((e) => e.actor === u.username)).toBe(true);
    expect(JSON.stringify(entries)).not.toContain(u.password);
  });

  it('opens again as the oldest failures leave the window, and Retry-After says when', async () => {
    const u = await createTestUser(t.db, 'collector', cheap);
    // Each test from its own address, so that together they stay under the address limit.
    const from = { address: '10.0.2.1' };
    for (let i = 1; i <= 5; i++) expect((await login(t, u.username, 'wrong', from)).statusCode).toBe(401);
    // Ten minutes later: five minutes to go.
    await age(t, 'username', u.username, 600);
    const locked = await login(t, u.username, u.password, from);
    expect(locked.statusCode).toBe(429);
    const retryAfter = Number(locked.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(300 - 30);
    expect(retryAfter).toBeLessThanOrEqual(300);
    expect(locked.json().message).toMatch(/try again in 5 minutes/);
    // Five minutes and a second later the failures are out of the window.
    await age(t, 'username', u.username, 301);
    expect((await login(t, u.username, u.password, from)).statusCode).toBe(200);
  });

  it('starts the count again after a successful sign-in', async () => {
    const u = await createTestUser(t.db, 'collector', cheap);
    const from = { address: '10.0.3.1' };
    for (let i = 1; i <= 4; i++) expect((await login(t, u.username, 'wrong', from)).statusCode).toBe(401);
    expect((await login(t, u.username, u.password, from)).statusCode).toBe(200);
    // Four more failures: nine in the window, but only four since the success.
    for (let i = 1; i <= 4; i++) expect((await login(t, u.username, 'wrong', from)).statusCode).toBe(401);
    expect((await login(t, u.username, u.password, from)).statusCode).toBe(200);
    // And the fifth failure after it locks as before.
    for (let i = 1; i <= 5; i++) expect((await login(t, u.username, 'wrong', from)).statusCode).toBe(401);
    expect((await login(t, u.username, u.password, from)).statusCode).toBe(429);
  });

  it('locks an unknown user name the same way, with the same answer', async () => {
    const known = await createTestUser(t.db, 'collector', cheap);
    const unknown = unique('nobody');
    for (const name of [known.username, unknown]) {
      for (let i = 1; i <= 5; i++) {
        const res = await login(t, name, 'wrong', { address: '10.9.9.9' });
        expect(res.statusCode, `${name} failure ${i}`).toBe(401);
        expect(res.json()).toEqual({ message: 'wrong username or password' });
      }
    }
    const a = await login(t, known.username, 'wrong', { address: '10.9.9.9' });
    const b = await login(t, unknown, 'wrong', { address: '10.9.9.9' });
    expect([a.statusCode, b.statusCode]).toEqual([429, 429]);
    expect(a.json()).toEqual(b.json());
    expect(Math.abs(Number(a.headers['retry-after']) - Number(b.headers['retry-after']))).toBeLessThanOrEqual(
      30,
    );
  });

  it('lets at most 5 of many parallel guesses reach the password check', async () => {
    const u = await createTestUser(t.db, 'collector', cheap);
    const from = { address: '10.0.5.1' };
    const start = await head(t);
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) => login(t, u.username, `parallel-${i}`, from)),
    );
    const codes = answers.map((r) => r.statusCode);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(5);
    expect(codes.filter((c) => c !== 401 && c !== 429)).toEqual([]);
    expect((await login(t, u.username, u.password, from)).statusCode).toBe(429);
    const failed = (await entriesSince(t, start)).filter((e) => e.action === 'auth.login_failed');
    expect(failed.length).toBe(codes.filter((c) => c === 401).length);
  });
});

describe(`sign-in throttling per client address (${engineName})`, () => {
  let t: TestApp;
  // Small limits, so spraying takes a few password checks; one trusted proxy in front.
  const settings: LoginThrottleSettings = {
    maxFailuresPerUser: 3,
    maxFailuresPerAddress: 6,
    windowSeconds: 600,
    proxyHops: 1,
  };
  beforeAll(async () => {
    // The app reads client addresses through the same proxy as the throttle (LOGIN_PROXY_HOPS).
    t = await startTestApp({ throttle: settings, passwordCost: CHEAP_PASSWORD_COST, proxyHops: 1 });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('refuses an address that sprayed failures over many names, for any name, and no other address', async () => {
    const sprayer = '203.0.113.7';
    const u = await createTestUser(t.db, 'risk_manager', cheap);
    const start = await head(t);
    // Six names, one failure each: no user name is near its limit, the address reaches its own.
    const names = Array.from({ length: 6 }, () => unique('spray'));
    for (const name of names)
      expect((await login(t, name, 'wrong', { forwardedFor: sprayer })).statusCode).toBe(401);

    const refused = await login(t, u.username, u.password, { forwardedFor: sprayer });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toBe(
      'too many failed sign-ins from this address: try again in 10 minutes',
    );
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(600 - 30);
    expect(retryAfter).toBeLessThanOrEqual(600);

    // The same user from another client gets in; the sprayed names are not locked for others.
    expect((await login(t, u.username, u.password, { forwardedFor: '198.51.100.2' })).statusCode).toBe(200);
    expect((await login(t, names[0]!, 'wrong', { forwardedFor: '198.51.100.2' })).statusCode).toBe(401);

    const entries = await entriesSince(t, start);
    expect(summary(entries.filter((e) => e.action === 'auth.lockout'))).toEqual([
      [
        'auth.lockout',
        `address:${sprayer}`,
        { scope: 'address', failures: 6, windowSeconds: 600, address: sprayer },
      ],
    ]);
    expect(entries.filter((e) => e.action === 'auth.login_failed').length).toBe(7);

    // When the failures leave the window the address may try again.
    await age(t, 'client_address', sprayer, 601);
    expect((await login(t, u.username, u.password, { forwardedFor: sprayer })).statusCode).toBe(200);
  });

  it('takes the address one proxy hop from the right of X-Forwarded-For, not what the client wrote', async () => {
    const real = '192.0.2.44';
    const u = await createTestUser(t.db, 'collector', cheap);
    // A client writing a different made-up address each time: the proxy appends the real one.
    for (let i = 0; i < 6; i++) {
      const res = await login(t, unique('forged'), 'wrong', { forwardedFor: `10.0.0.${i}, ${real}` });
      expect(res.statusCode).toBe(401);
    }
    const res = await login(t, u.username, u.password, { forwardedFor: `10.0.0.99, ${real}` });
    expect(res.statusCode).toBe(429);
    expect(res.json().message).toContain('from this address');
  });

  it('does not let a success wipe the failures its address made under other names', async () => {
    const address = '192.0.2.80';
    const own = await createTestUser(t.db, 'collector', cheap);
    for (let i = 0; i < 5; i++)
      expect((await login(t, unique('guess'), 'wrong', { forwardedFor: address })).statusCode).toBe(401);
    expect((await login(t, own.username, own.password, { forwardedFor: address })).statusCode).toBe(200);
    expect((await login(t, unique('guess'), 'wrong', { forwardedFor: address })).statusCode).toBe(401);
    expect((await login(t, own.username, own.password, { forwardedFor: address })).statusCode).toBe(429);
  });

  it("lets an admin lift a user name's lock; the failures still count for their address", async () => {
    const attacker = '203.0.113.90';
    const u = await createTestUser(t.db, 'risk_manager', cheap);
    const admin = await signedInAs(t.app, t.db, 'admin');
    const collector = await signedInAs(t.app, t.db, 'collector');
    const unlock = (token: string, username: string) =>
      t.app.inject({
        method: 'POST',
        url: '/api/auth/unlock',
        headers: authHeader(token),
        payload: { username },
      });
    // Someone guessing at a known name locks its owner out, from everywhere.
    for (let i = 0; i < 3; i++)
      expect((await login(t, u.username, 'wrong', { forwardedFor: attacker })).statusCode).toBe(401);
    expect((await login(t, u.username, u.password, { forwardedFor: '198.51.100.30' })).statusCode).toBe(429);

    expect((await unlock(collector.token, u.username)).statusCode).toBe(403);
    expect(
      (await t.app.inject({ method: 'POST', url: '/api/auth/unlock', payload: { username: 'x' } }))
        .statusCode,
    ).toBe(401);
    expect((await unlock(admin.token, '')).statusCode).toBe(400);
    const start = await head(t);
    const lifted = await unlock(admin.token, ` ${u.username.toUpperCase()} `);
    expect(lifted.statusCode).toBe(200);
    expect(lifted.json()).toEqual({ username: u.username, failures: 3 });
    expect(summary(await entriesSince(t, start))).toEqual([
      ['auth.unlock', `user:${u.username}`, { failures: 3 }],
    ]);
    expect((await entriesSince(t, start))[0]!.actor).toBe(admin.user.username);
    expect((await unlock(admin.token, u.username)).json()).toEqual({ username: u.username, failures: 0 });

    // The owner gets in again; the attacker's address keeps its three failures and locks at six.
    expect((await login(t, u.username, u.password, { forwardedFor: '198.51.100.30' })).statusCode).toBe(200);
    for (let i = 0; i < 3; i++)
      expect((await login(t, unique('guess'), 'wrong', { forwardedFor: attacker })).statusCode).toBe(401);
    const refused = await login(t, u.username, u.password, { forwardedFor: attacker });
    expect(refused.statusCode).toBe(429);
    expect(refused.json().message).toContain('from this address');
  });

  it('locks the user name at its own lower limit, whatever the addresses', async () => {
    const u = await createTestUser(t.db, 'collector', cheap);
    for (let i = 0; i < 3; i++) {
      const res = await login(t, u.username, 'wrong', { forwardedFor: `198.18.0.${i}` });
      expect(res.statusCode).toBe(401);
    }
    const res = await login(t, u.username, u.password, { forwardedFor: '198.18.0.200' });
    expect(res.statusCode).toBe(429);
    expect(res.json().message).toContain('for this user name');
  });
});

describe(`sign-in throttling as configured (${engineName})`, () => {
  it('takes its limit from LOGIN_MAX_FAILURES on the running platform', async () => {
    const platform = await startTestPlatform({ LOGIN_MAX_FAILURES: 2 });
    try {
      const u = await createTestUser(platform.db, 'collector');
      const attempt = (password: string) =>
        fetch(`${platform.url}/api/auth/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: u.username, password }),
        });
      expect((await attempt('wrong')).status).toBe(401);
      expect((await attempt('wrong')).status).toBe(401);
      const locked = await attempt(u.password);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await platform.teardown();
    }
  });
});
