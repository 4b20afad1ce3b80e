/** Signing in from tests: tokens for a username, and users of a given role in a scratch database. */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { AuthUser } from '../../api/auth/access.ts';
import type { ScryptCost } from '../../api/auth/password.ts';
import { createUser } from '../../api/auth/users.ts';
import type { Sql } from '../../db/client.ts';
import type { Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';

/** A JWT_SECRET for platforms started by tests on PostgreSQL, where one must be configured. */
export const TEST_JWT_SECRET = 'test-only-secret-not-for-production-0123456789';

export interface SignedIn {
  token: string;
  user: AuthUser;
  expiresAt: string;
}

/** Signs in through POST /api/auth/login, on an app (inject) or a running server (fetch). */
export async function loginAs(
  target: FastifyInstance | string,
  username: string,
  password = 'demo',
): Promise<SignedIn> {
  const payload = { username, password };
  let status: number;
  let body: unknown;
  if (typeof target === 'string') {
    const res = await fetch(new URL('/api/auth/login', target), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(payload),
    });
    status = res.status;
    body = await res.json();
  } else {
    const res = await target.inject({ method: 'POST', url: '/api/auth/login', payload });
    status = res.statusCode;
    body = res.json();
  }
  if (status !== 200) throw new Error(`login as ${username} failed: ${status} ${JSON.stringify(body)}`);
  return body as SignedIn;
}

export const authHeader = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * A scrypt cost for tests that sign in hundreds of times and test something else than the hash
 * (the throttle): about a hundredth of PASSWORD_COST's work. Never for a real password.
 */
export const CHEAP_PASSWORD_COST: ScryptCost = { N: 2 ** 10, r: 8, p: 1 };

export interface TestUser {
  user: AuthUser;
  username: string;
  password: string;
}

/**
 * Creates a user holding `roles` with a fresh username and password. Scope all unless given: the
 * tests of scopes (rbac.test.ts, scopes.test.ts) pass theirs, the others test something else.
 */
export async function createTestUser(
  db: Sql,
  roles: Role | Role[],
  {
    username,
    password,
    cost,
    scope,
  }: { username?: string; password?: string; cost?: ScryptCost; scope?: Scope } = {},
): Promise<TestUser> {
  const list = Array.isArray(roles) ? roles : [roles];
  const name = username ?? `${list[0]}-${randomBytes(4).toString('hex')}`.replace(/_/g, '-');
  const pass = password ?? randomBytes(9).toString('base64url');
  const stored = await createUser(
    db,
    {
      username: name,
      name: `Test ${list.join(' + ')}`,
      password: pass,
      roles: list,
      scope: scope ?? { kind: 'all' },
    },
    'system',
    cost,
  );
  return {
    user: {
      id: stored.id,
      username: stored.username,
      name: stored.name,
      roles: stored.roles,
      scope: stored.scope,
    },
    username: stored.username,
    password: pass,
  };
}

/** Creates a user holding `roles` and signs it in; returns its token. */
export async function signedInAs(
  target: FastifyInstance | string,
  db: Sql,
  roles: Role | Role[],
  scope?: Scope,
): Promise<SignedIn & { password: string }> {
  const u = await createTestUser(db, roles, { scope });
  return { ...(await loginAs(target, u.username, u.password)), password: u.password };
}
