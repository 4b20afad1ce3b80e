/** Signing in and recognising signed-in users: the part of auth the routes and the socket share. */
import type { Sql } from '../../db/client.ts';
import { appendAudit, inTransaction } from '../audit/log.ts';
import type { Authenticate, AuthUser } from './access.ts';
import { hashPassword, needsRehash, PASSWORD_COST, type ScryptCost, verifyPassword } from './password.ts';
import {
  type Attempt,
  attemptFailed,
  attemptSucceeded,
  beginAttempt,
  clientAddress,
  DEFAULT_LOGIN_THROTTLE,
  forget,
  LoginThrottledError,
  type LoginThrottleSettings,
  unlockUser,
} from './throttle.ts';
import type { Tokens } from './tokens.ts';
import {
  endSessions,
  findUserById,
  findUserByUsername,
  normalizeUsername,
  setPasswordHash,
} from './users.ts';

export interface LoginResult {
  token: string;
  user: AuthUser;
  expiresAt: Date;
}

/** Where a sign-in comes from, as the HTTP request shows it (absent: the CLI, tests). */
export interface LoginClient {
  remoteAddress?: string | undefined;
  forwardedFor?: string | string[] | undefined;
}

export interface Auth {
  /**
   * A token for a correct, enabled user; null otherwise (which of the two is not told). Throws
   * LoginThrottledError, without checking the password, while the user name or the client's
   * address has too many recent failures (api/auth/throttle.ts).
   */
  login(username: string, password: string, client?: LoginClient): Promise<LoginResult | null>;
  /** Lifts a user name's sign-in lock now (api/auth/throttle.ts unlockUser): the name as counted, failures set aside. */
  unlock(username: string, actor: string): Promise<{ username: string; failures: number }>;
  authenticate: Authenticate;
  /** Signs the user out: every token issued to them so far stops working (on every api node). */
  logout(user: AuthUser): Promise<void>;
  /** An admin ends all of a user's sessions; null for an unknown user name. */
  revoke(username: string, actor: string): Promise<{ username: string } | null>;
  /** Told when this process ended a user's sessions, so live connections are checked at once. */
  onSessionsEnded(listener: (userId: string) => void): () => void;
}

export interface AuthOptions {
  throttle?: LoginThrottleSettings | undefined;
  /**
   * The scrypt cost of the hashes sign-in makes (the decoy for unknown names, a rehash of an older,
   * cheaper hash). Default PASSWORD_COST; tests of the throttle, which hash hundreds of times, lower it.
   */
  passwordCost?: ScryptCost | undefined;
}

const publicUser = (u: AuthUser): AuthUser => ({
  id: u.id,
  username: u.username,
  name: u.name,
  roles: u.roles,
  scope: u.scope,
});

export function createAuth(db: Sql, tokens: Tokens, options: AuthOptions = {}): Auth {
  const throttle = options.throttle ?? DEFAULT_LOGIN_THROTTLE;
  const cost = options.passwordCost ?? PASSWORD_COST;
  // Attempts are counted one at a time in this process: each count then sees every attempt begun
  // before it, committed (PostgreSQL runs the pool's statements side by side, so a burst of parallel
  // guesses could otherwise each miss the others' rows and pass the limit together). Two
  // statements of a millisecond each; the password check itself still runs in parallel.
  let gate: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = gate.then(fn);
    gate = run.catch(() => {});
    return run;
  };
  const sessionListeners = new Set<(userId: string) => void>();
  const ended = (userId: string) => {
    for (const listener of sessionListeners) listener(userId);
  };
  // Hashed once, lazily: an unknown username is checked against it so that it costs the same
  // time as a known one with a wrong password, and the answer does not reveal which it was.
  let decoy: Promise<string> | null = null;

  // Every refused attempt is audited (never the password): the claimed name, and why a refusal was
  // one; and, once, the failure that locks the name or the address. Attempts refused during a lock
  // are not: they cost an attacker nothing, and each append waits for the chain's one lock.
  const refused = (attempt: Attempt, reason: string, userId: string | null) =>
    inTransaction(db, async (tx) => {
      const locks = await attemptFailed(tx, throttle, attempt);
      const actor = attempt.username || '(empty)';
      await appendAudit(tx, {
        actor,
        action: 'auth.login_failed',
        subject: `user:${attempt.username}`,
        detail: { reason, userId },
      });
      for (const scope of locks) {
        const limit = scope === 'user' ? throttle.maxFailuresPerUser : throttle.maxFailuresPerAddress;
        await appendAudit(tx, {
          actor,
          action: 'auth.lockout',
          subject: scope === 'user' ? `user:${attempt.username}` : `address:${attempt.address}`,
          detail: { scope, failures: limit, windowSeconds: throttle.windowSeconds, address: attempt.address },
        });
      }
    }).then(() => null);

  const check = async (attempt: Attempt, username: string, password: string) => {
    const user = await findUserByUsername(db, username);
    if (!user) {
      decoy ??= hashPassword('not a password of anyone', cost);
      await verifyPassword(password, await decoy);
      return refused(attempt, 'unknown user', null);
    }
    const ok = await verifyPassword(password, user.passwordHash);
    if (!ok) return refused(attempt, 'wrong password', user.id);
    if (user.disabledAt !== null) return refused(attempt, 'user disabled', user.id);
    const rehash = needsRehash(user.passwordHash, cost) ? await hashPassword(password, cost) : null;
    await inTransaction(db, async (tx) => {
      if (rehash) await setPasswordHash(tx, user.id, rehash);
      await attemptSucceeded(tx, attempt);
      await appendAudit(tx, {
        actor: user.username,
        action: 'auth.login',
        subject: `user:${user.username}`,
        detail: { userId: user.id, ...(rehash ? { passwordRehashed: true } : {}) },
      });
    });
    const { token, expiresAt } = await tokens.sign(user.id, user.tokenVersion);
    return { token, user: publicUser(user), expiresAt };
  };

  return {
    async login(username, password, client = {}) {
      const address = clientAddress(client.remoteAddress, client.forwardedFor, throttle.proxyHops);
      // Unknown names are counted and locked like known ones, under the name as typed (normalised).
      const attempt = await oneAtATime(() =>
        beginAttempt(db, throttle, normalizeUsername(username), address),
      );
      if (attempt instanceof LoginThrottledError) throw attempt;
      try {
        return await check(attempt, username, password);
      } catch (e) {
        // The check itself broke (the database, say): that was no failed guess.
        await forget(db, attempt).catch(() => {});
        throw e;
      }
    },

    unlock: (username, actor) => unlockUser(db, username, actor),

    async authenticate(token) {
      const claims = await tokens.verify(token);
      if (!claims) return null;
      const user = await findUserById(db, claims.userId);
      if (!user || user.disabledAt !== null || user.roles.length === 0) return null;
      if (user.tokenVersion !== claims.version) return null;
      return { ...publicUser(user), expiresAt: claims.expiresAt };
    },

    async logout(user) {
      await endSessions(db, user.id, user.username, 'auth.logout');
      ended(user.id);
    },

    async revoke(username, actor) {
      const user = await findUserByUsername(db, username);
      if (!user) return null;
      const done = await endSessions(db, user.id, actor, 'auth.sessions_revoked');
      if (!done) return null;
      ended(user.id);
      return { username: done.username };
    },

    onSessionsEnded(listener) {
      sessionListeners.add(listener);
      return () => sessionListeners.delete(listener);
    },
  };
}
