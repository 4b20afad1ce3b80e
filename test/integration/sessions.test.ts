/**
 * Sessions end: signing out, an admin's revocation and disabling a user refuse every token issued
 * before, on the next request; a live map connection is dropped within seconds of a revocation, a
 * role change, disabling or the token's expiry.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SECRET_FILE } from '../../api/auth/secret.ts';
import { createTokens } from '../../api/auth/tokens.ts';
import { disableUser } from '../../api/auth/users.ts';
import { authHeader, createTestUser, loginAs, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe(`sessions (${engineName})`, () => {
  let platform: TestPlatform;
  let admin: string;
  const sockets: Socket[] = [];

  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(new URL(path, platform.url), {
      method,
      headers: {
        ...authHeader(token),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : null };
  };
  const me = async (token: string) => (await call('GET', '/api/auth/me', token)).status;
  const audit = async (action: string, username: string) =>
    (
      await platform.db.query<{ actor: string }>(
        'select actor from audit_log where action = $1 and subject = $2 order by seq',
        [action, `user:${username}`],
      )
    ).rows.map((r) => r.actor);

  /** A live map connection, once connected; `dropped` resolves when the server disconnects it. */
  const connectLive = async (token: string) => {
    const socket = io(platform.url, { transports: ['websocket'], auth: { token }, reconnection: false });
    sockets.push(socket);
    const dropped = new Promise<string>((resolve) => socket.on('disconnect', resolve));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return { socket, dropped };
  };
  const within = <T>(p: Promise<T>, ms: number, what: string) =>
    Promise.race([
      p,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`not ${what} within ${ms} ms`)), ms),
      ),
    ]);

  beforeAll(async () => {
    platform = await startTestPlatform();
    admin = (await signedInAs(platform.url, platform.db, 'admin')).token;
  });
  afterEach(() => {
    for (const s of sockets.splice(0)) s.disconnect();
  });
  afterAll(async () => {
    await platform?.teardown();
  });

  it('signs out: every token the user held is refused, a new sign-in works, audited', async () => {
    const u = await createTestUser(platform.db, 'collector');
    const first = (await loginAs(platform.url, u.username, u.password)).token;
    const second = (await loginAs(platform.url, u.username, u.password)).token;
    expect(await me(first)).toBe(200);
    expect(await call('POST', '/api/auth/logout', first)).toEqual({
      status: 200,
      json: { username: u.username },
    });
    expect(await me(first)).toBe(401);
    expect(await me(second)).toBe(401);
    // Signing out with an ended token is refused like any other call with it.
    expect((await call('POST', '/api/auth/logout', first)).status).toBe(401);
    const again = (await loginAs(platform.url, u.username, u.password)).token;
    expect(await me(again)).toBe(200);
    expect(await audit('auth.logout', u.username)).toEqual([u.username]);
    // The auditor, who may change nothing, may still sign out.
    const auditor = await signedInAs(platform.url, platform.db, 'auditor');
    expect((await call('POST', '/api/auth/logout', auditor.token)).status).toBe(200);
    expect(await me(auditor.token)).toBe(401);
  });

  it("lets an admin end a user's sessions, and no one else", async () => {
    const u = await signedInAs(platform.url, platform.db, 'risk_manager');
    const other = await signedInAs(platform.url, platform.db, 'risk_manager');
    const username = u.user.username;
    expect((await call('POST', '/api/auth/revoke', other.token, { username })).status).toBe(403);
    expect(await me(u.token)).toBe(200);
    expect((await call('POST', '/api/auth/revoke', admin, {})).status).toBe(400);
    expect((await call('POST', '/api/auth/revoke', admin, { username: 'nobody-here' })).status).toBe(404);
    const res = await call('POST', '/api/auth/revoke', admin, { username: username.toUpperCase() });
    expect(res).toEqual({ status: 200, json: { username } });
    expect(await me(u.token)).toBe(401);
    expect(await me(other.token)).toBe(200);
    expect(await audit('auth.sessions_revoked', username)).toHaveLength(1);
  });

  it('drops a live connection within seconds of a revocation', async () => {
    const u = await signedInAs(platform.url, platform.db, 'recovery_agent');
    const { dropped } = await connectLive(u.token);
    expect((await call('POST', '/api/auth/revoke', admin, { username: u.user.username })).status).toBe(200);
    expect(await within(dropped, 5000, 'dropped after revocation')).toBe('io server disconnect');
    await expect(connectLive(u.token)).rejects.toThrow('unauthorized');
  });

  it('drops a live connection within seconds of the user being disabled (from the CLI: another process)', async () => {
    const u = await signedInAs(platform.url, platform.db, 'collector');
    const { dropped } = await connectLive(u.token);
    await disableUser(platform.db, u.user.id, 'cli:test');
    expect(await within(dropped, 8000, 'dropped after disabling')).toBe('io server disconnect');
  });

  it('drops a live connection within seconds of a role change; it reconnects with the new role', async () => {
    const u = await signedInAs(platform.url, platform.db, 'collector');
    const { dropped } = await connectLive(u.token);
    await platform.db.query(`update app_user set roles = array['auditor'] where id = $1`, [u.user.id]);
    expect(await within(dropped, 8000, 'dropped after a role change')).toBe('io server disconnect');
    const { socket } = await connectLive(u.token);
    expect(socket.connected).toBe(true);
  });

  it('drops a live connection within seconds of its token expiring', async () => {
    const u = await createTestUser(platform.db, 'recovery_agent');
    const secret =
      platform.current.config.JWT_SECRET ??
      readFileSync(join(platform.current.config.DATA_DIR, SECRET_FILE), 'utf8').trim();
    const { token } = await createTokens({ secret, ttlSeconds: 3 }).sign(u.user.id, 0);
    const { dropped } = await connectLive(token);
    expect(await within(dropped, 10_000, 'dropped after expiry')).toBe('io server disconnect');
  });
});
