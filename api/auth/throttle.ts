/**
 * Throttling password guessing at sign-in: after `maxFailuresPerUser` failed sign-ins for one user
 * name within the window, further attempts for that name are refused without looking at the
 * password until the oldest of those failures leaves the window; likewise `maxFailuresPerAddress`
 * for one client address, so one host cannot spray guesses over many names.
 *
 * The counts live in the database (login_failure, db/migrations/010_login_throttle.sql), not in
 * memory: the api may run as several nodes on one database (docs/deployment.md), and a count per
 * process would multiply the allowance by their number (and forget it at every restart).
 */
import type { Sql } from '../../db/client.ts';
import type { Config } from '../../shared/config.ts';
import { appendAudit, inTransaction } from '../audit/log.ts';
import { normalizeUsername } from './users.ts';

export interface LoginThrottleSettings {
  /** Failures for one user name within the window that lock it; 0 = no limit. */
  maxFailuresPerUser: number;
  /** Failures from one client address within the window that lock it; 0 = no limit. */
  maxFailuresPerAddress: number;
  windowSeconds: number;
  /**
   * Reverse proxies in front of the api that append the caller to X-Forwarded-For. Behind one, the
   * connection comes from the proxy: without this every client would share its address, and one
   * sprayer would lock everybody out. More hops than there are proxies lets a client choose its
   * own address (it writes the header's left end), so count only proxies you run.
   */
  proxyHops: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleSettings = {
  maxFailuresPerUser: 5,
  maxFailuresPerAddress: 20,
  windowSeconds: 15 * 60,
  proxyHops: 0,
};

export const loginThrottleFrom = (c: Config): LoginThrottleSettings => ({
  maxFailuresPerUser: c.LOGIN_MAX_FAILURES,
  maxFailuresPerAddress: c.LOGIN_MAX_FAILURES_PER_ADDRESS,
  windowSeconds: c.LOGIN_FAILURE_WINDOW,
  proxyHops: c.LOGIN_PROXY_HOPS,
});

export type ThrottleScope = 'user' | 'address';

/** A sign-in refused before the password was checked; `retryAfterSeconds` until one would be heard. */
export class LoginThrottledError extends Error {
  constructor(
    readonly scope: ThrottleScope,
    readonly retryAfterSeconds: number,
  ) {
    super(
      `too many failed sign-ins ${scope === 'user' ? 'for this user name' : 'from this address'}: ` +
        `try again in ${describeWait(retryAfterSeconds)}`,
    );
  }
}

const describeWait = (s: number) =>
  s < 90 ? `${s} second${s === 1 ? '' : 's'}` : `${Math.ceil(s / 60)} minutes`;

/**
 * The client's address: the connection's, or behind `hops` trusted proxies the entry that many
 * places from the right of [X-Forwarded-For…, connection] (each proxy appends whom it heard from).
 */
export function clientAddress(
  remote: string | undefined,
  forwardedFor: string | string[] | undefined,
  hops: number,
): string | null {
  const forwarded = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : (forwardedFor ?? ''))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const chain = [...forwarded, ...(remote ? [remote] : [])];
  return chain[Math.max(0, chain.length - 1 - hops)] ?? null;
}

export interface Attempt {
  id: string;
  username: string;
  address: string | null;
}

/** The window in SQL: each query that uses it passes `windowSeconds` as $3. */
const WINDOW = "$3::int * interval '1 second'";

/**
 * Counts the attempt as a failure before the password is checked, then looks at the attempts
 * before it (smaller id) in the window. Counting first is what keeps parallel guesses from all
 * passing the check at once; looking only at earlier ones makes the first of them go through, so
 * a burst is not refused as a whole and forgotten (each refused attempt removes its row), which
 * would leave no failure behind and no lock. Refused: the row is removed again, so attempts during a lock do
 * not extend it, and the answer says which limit and for how long.
 */
export async function beginAttempt(
  db: Sql,
  s: LoginThrottleSettings,
  username: string,
  address: string | null,
): Promise<Attempt | LoginThrottledError> {
  const { rows } = await db.query<{ id: string }>(
    'insert into login_failure (username, client_address) values ($1, $2) returning id::text as id',
    [username, address],
  );
  const attempt = { id: rows[0]!.id, username, address };
  const counts = await db.query<{ user_failures: number; address_failures: number }>(
    `select count(*) filter (where username = $1 and not reset)::int as user_failures,
            count(*) filter (where client_address = $2)::int as address_failures
       from login_failure
      where at > now() - ${WINDOW} and id < $4::bigint
        and ((username = $1 and not reset) or client_address = $2)`,
    [username, address, s.windowSeconds, attempt.id],
  );
  const { user_failures, address_failures } = counts.rows[0]!;
  const locked: ThrottleScope[] = [];
  if (s.maxFailuresPerUser > 0 && user_failures >= s.maxFailuresPerUser) locked.push('user');
  if (s.maxFailuresPerAddress > 0 && address !== null && address_failures >= s.maxFailuresPerAddress)
    locked.push('address');
  if (locked.length === 0) return attempt;
  await forget(db, attempt);
  // Both locked: the later end is the one that matters.
  let refusal: LoginThrottledError | null = null;
  for (const scope of locked) {
    const wait = await secondsUntilUnlocked(db, s, scope, attempt);
    if (!refusal || wait > refusal.retryAfterSeconds) refusal = new LoginThrottledError(scope, wait);
  }
  return refusal!;
}

/** Until the limit-th newest failure in the window leaves it (at least 1 s: a retry is never "now"). */
async function secondsUntilUnlocked(
  db: Sql,
  s: LoginThrottleSettings,
  scope: ThrottleScope,
  a: Attempt,
): Promise<number> {
  const [where, key, limit]: [string, string | null, number] =
    scope === 'user'
      ? ['username = $1 and not reset', a.username, s.maxFailuresPerUser]
      : ['client_address = $1', a.address, s.maxFailuresPerAddress];
  const { rows } = await db.query<{ wait: number }>(
    `select ceil(extract(epoch from (at + ${WINDOW} - now())))::int as wait
       from login_failure
      where ${where} and at > now() - ${WINDOW}
      order by at desc offset $2 limit 1`,
    [key, limit - 1, s.windowSeconds],
  );
  return Math.max(1, rows[0]?.wait ?? 1);
}

/**
 * The attempt failed: its row stays as a failure. Returns the limits this very failure reached
 * (it is the limit-th in the window), for the audit log to record the lock once, as it begins.
 * Rows that left the window are purged here, where new ones come from.
 */
export async function attemptFailed(tx: Sql, s: LoginThrottleSettings, a: Attempt): Promise<ThrottleScope[]> {
  await tx.query(`delete from login_failure where at <= now() - $1::int * interval '1 second'`, [
    s.windowSeconds,
  ]);
  const { rows } = await tx.query<{ user_failures: number; address_failures: number }>(
    `select count(*) filter (where username = $1 and not reset)::int as user_failures,
            count(*) filter (where client_address = $2)::int as address_failures
       from login_failure
      where at > now() - ${WINDOW} and id <= $4::bigint
        and ((username = $1 and not reset) or client_address = $2)`,
    [a.username, a.address, s.windowSeconds, a.id],
  );
  const { user_failures, address_failures } = rows[0]!;
  const reached: ThrottleScope[] = [];
  if (s.maxFailuresPerUser > 0 && user_failures === s.maxFailuresPerUser) reached.push('user');
  if (s.maxFailuresPerAddress > 0 && a.address !== null && address_failures === s.maxFailuresPerAddress)
    reached.push('address');
  return reached;
}

/**
 * The attempt succeeded: it was no failure, and the user name's count starts again. Its earlier
 * failures still count for their addresses (see the `reset` column).
 */
export async function attemptSucceeded(tx: Sql, a: Attempt): Promise<void> {
  await forget(tx, a);
  await tx.query('update login_failure set reset = true where username = $1 and not reset', [a.username]);
}

/** Removes the attempt's row: refused before the check, or the check itself failed to run. */
export async function forget(db: Sql, a: Attempt): Promise<void> {
  await db.query('delete from login_failure where id = $1::bigint', [a.id]);
}

/**
 * Lifts a user name's lock now, before its failures age out: an administrator's decision when
 * someone (often an attacker guessing at a known name) has locked a colleague out. The failures
 * stop counting for the name, as after a successful sign-in; they still count for their client
 * addresses, so a sprayer's address stays locked. Recorded as `auth.unlock`. Returns the name as
 * counted (normalised) and how many failures counted for it and no longer do (0: none did).
 */
export async function unlockUser(
  db: Sql,
  typed: string,
  actor: string,
): Promise<{ username: string; failures: number }> {
  const username = normalizeUsername(typed);
  return inTransaction(db, async (tx) => {
    const { rows } = await tx.query(
      'update login_failure set reset = true where username = $1 and not reset returning id',
      [username],
    );
    const failures = rows.length;
    await appendAudit(tx, {
      actor,
      action: 'auth.unlock',
      subject: `user:${username}`,
      detail: { failures },
    });
    return { username, failures };
  });
}
