/** The app_user table: staff accounts, their roles and password hashes. */
import type { Sql } from '../../db/client.ts';
import { isRole, type Role } from '../../shared/roles.ts';
import { defaultScope, type Scope } from '../../shared/scope.ts';
import { appendAudit, inTransaction } from '../audit/log.ts';
import type { AuthUser } from './access.ts';
import { hashPassword, PASSWORD_COST, type ScryptCost } from './password.ts';

export interface StoredUser extends AuthUser {
  passwordHash: string;
  disabledAt: Date | null;
  /** Tokens issued under a lower version are no longer accepted (sign-out, revocation, disabling). */
  tokenVersion: number;
}

interface Row {
  id: string;
  username: string;
  display_name: string;
  password_hash: string;
  roles: string[];
  disabled_at: Date | null;
  token_version: number;
  scope: 'all' | 'dealers' | 'assigned';
  scope_dealers: string[];
}

const COLUMNS =
  'id::text as id, username, display_name, password_hash, roles, disabled_at, token_version, scope, scope_dealers';

const toScope = (r: Row): Scope =>
  r.scope === 'dealers' ? { kind: 'dealers', dealerIds: r.scope_dealers } : { kind: r.scope };

const toUser = (r: Row): StoredUser => ({
  id: r.id,
  username: r.username,
  name: r.display_name,
  roles: r.roles.filter(isRole),
  scope: toScope(r),
  passwordHash: r.password_hash,
  disabledAt: r.disabled_at,
  tokenVersion: Number(r.token_version),
});

export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Usernames are matched without regard to case or surrounding spaces. */
export const normalizeUsername = (username: string) => username.trim().toLowerCase();

export async function findUserByUsername(db: Sql, username: string): Promise<StoredUser | null> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from app_user where username = $1`, [
    normalizeUsername(username),
  ]);
  return rows[0] ? toUser(rows[0]) : null;
}

export async function findUserById(db: Sql, id: string): Promise<StoredUser | null> {
  if (!UUID_PATTERN.test(id)) return null;
  const { rows } = await db.query<Row>(`select ${COLUMNS} from app_user where id = $1`, [id]);
  return rows[0] ? toUser(rows[0]) : null;
}

export interface NewUser {
  username: string;
  name: string;
  password: string;
  roles: Role[];
  /** Default: defaultScope(roles), the cases assigned for a recovery agent, everything otherwise. */
  scope?: Scope | undefined;
}

export class UserInputError extends Error {}

export function userProblems(u: NewUser): string[] {
  const problems: string[] = [];
  if (!USERNAME_PATTERN.test(normalizeUsername(u.username))) {
    problems.push('username: 1-64 of a-z 0-9 . _ -, starting with a letter or digit');
  }
  if (u.name.trim() === '') problems.push('name must not be empty');
  if (u.password.length === 0) problems.push('password must not be empty');
  if (u.roles.length === 0) problems.push('at least one role is needed');
  for (const r of u.roles) if (!isRole(r)) problems.push(`unknown role ${r}`);
  return problems;
}

/**
 * Creates a user; throws UserInputError on bad input or a taken username, leaving nothing behind.
 * `actor` is who did it, for the audit log ("system:…" for the platform itself).
 */
export async function createUser(
  db: Sql,
  u: NewUser,
  actor = 'system',
  cost: ScryptCost = PASSWORD_COST,
): Promise<StoredUser> {
  const problems = userProblems(u);
  if (problems.length > 0) throw new UserInputError(problems.join('; '));
  const hash = await hashPassword(u.password, cost);
  const scope = u.scope ?? defaultScope(u.roles);
  return inTransaction(db, async (tx) => {
    const { rows } = await tx.query<Row>(
      `insert into app_user (username, display_name, password_hash, roles, scope, scope_dealers)
       values ($1, $2, $3, $4::text[], $5, $6::text[])
       on conflict (username) do nothing
       returning ${COLUMNS}`,
      [
        normalizeUsername(u.username),
        u.name.trim(),
        hash,
        [...new Set(u.roles)],
        scope.kind,
        scope.kind === 'dealers' ? [...new Set(scope.dealerIds)] : [],
      ],
    );
    if (!rows[0]) throw new UserInputError(`username ${normalizeUsername(u.username)} is taken`);
    const user = toUser(rows[0]);
    await appendAudit(tx, {
      actor,
      action: 'user.create',
      subject: `user:${user.username}`,
      detail: { userId: user.id, name: user.name, roles: user.roles, scope: user.scope },
    });
    return user;
  });
}

/**
 * Sets what a user sees (audited as user.scope with the scope before and after); null when there is
 * no such user. Takes effect at the user's next request: the scope is read with the user each time.
 */
export async function setUserScope(
  db: Sql,
  username: string,
  scope: Scope,
  actor: string,
): Promise<StoredUser | null> {
  return inTransaction(db, async (tx) => {
    const before = await tx.query<Row>(`select ${COLUMNS} from app_user where username = $1 for update`, [
      normalizeUsername(username),
    ]);
    if (!before.rows[0]) return null;
    const { rows } = await tx.query<Row>(
      `update app_user set scope = $2, scope_dealers = $3::text[] where id = $1 returning ${COLUMNS}`,
      [before.rows[0].id, scope.kind, scope.kind === 'dealers' ? [...new Set(scope.dealerIds)] : []],
    );
    const user = toUser(rows[0]!);
    await appendAudit(tx, {
      actor,
      action: 'user.scope',
      subject: `user:${user.username}`,
      detail: { userId: user.id, from: toScope(before.rows[0]), to: user.scope },
    });
    return user;
  });
}

/** Every user, by username. */
export async function listUsers(db: Sql): Promise<StoredUser[]> {
  const { rows } = await db.query<Row>(`select ${COLUMNS} from app_user order by username`);
  return rows.map(toUser);
}

export async function setPasswordHash(db: Sql, id: string, hash: string): Promise<void> {
  await db.query('update app_user set password_hash = $2 where id = $1', [id, hash]);
}

/** Disables a user (audited once: disabling a disabled user changes nothing). */
export async function disableUser(db: Sql, id: string, actor = 'system'): Promise<void> {
  await inTransaction(db, async (tx) => {
    const { rows } = await tx.query<{ username: string }>(
      `update app_user set disabled_at = now(), token_version = token_version + 1
       where id = $1 and disabled_at is null returning username`,
      [id],
    );
    if (rows[0]) {
      await appendAudit(tx, {
        actor,
        action: 'user.disable',
        subject: `user:${rows[0].username}`,
        detail: { userId: id },
      });
    }
  });
}

export async function deleteUser(db: Sql, id: string, actor = 'system'): Promise<void> {
  await inTransaction(db, async (tx) => {
    const { rows } = await tx.query<{ username: string }>(
      'delete from app_user where id = $1 returning username',
      [id],
    );
    if (rows[0]) {
      await appendAudit(tx, {
        actor,
        action: 'user.delete',
        subject: `user:${rows[0].username}`,
        detail: { userId: id },
      });
    }
  });
}

/**
 * Ends every token issued to the user so far: raises the token version the request hook and the live
 * map compare against. Audited as `action` (auth.logout, auth.sessions_revoked). Null for an unknown user.
 */
export async function endSessions(
  db: Sql,
  id: string,
  actor: string,
  action: 'auth.logout' | 'auth.sessions_revoked',
): Promise<{ username: string; tokenVersion: number } | null> {
  return inTransaction(db, async (tx) => {
    const { rows } = await tx.query<{ username: string; token_version: number }>(
      'update app_user set token_version = token_version + 1 where id = $1 returning username, token_version',
      [id],
    );
    const row = rows[0];
    if (!row) return null;
    await appendAudit(tx, {
      actor,
      action,
      subject: `user:${row.username}`,
      detail: { userId: id, tokenVersion: Number(row.token_version) },
    });
    return { username: row.username, tokenVersion: Number(row.token_version) };
  });
}
