/** Signing in and recognising signed-in users: the part of auth the routes and the socket share. */
import type { Sql } from '../../db/client.ts';
import { appendAudit, inTransaction } from '../audit/log.ts';
import type { Authenticate, AuthUser } from './access.ts';
import { hashPassword, needsRehash, verifyPassword } from './password.ts';
import type { Tokens } from './tokens.ts';
import { findUserById, findUserByUsername, normalizeUsername, setPasswordHash } from './users.ts';

export interface LoginResult {
  token: string;
  user: AuthUser;
  expiresAt: Date;
}

export interface Auth {
  /** A token for a correct, enabled user; null otherwise (which of the two is not told). */
  login(username: string, password: string): Promise<LoginResult | null>;
  authenticate: Authenticate;
}

const publicUser = (u: AuthUser): AuthUser => ({
  id: u.id,
  username: u.username,
  name: u.name,
  roles: u.roles,
});

export function createAuth(db: Sql, tokens: Tokens): Auth {
  // Hashed once, lazily: an unknown username is checked against it so that it costs the same
  // time as a known one with a wrong password, and the answer does not reveal which it was.
  let decoy: Promise<string> | null = null;

  return {
    async login(username, password) {
      // Every attempt is audited (never the password): the claimed name, and why a refusal was one.
      const refused = (reason: string, userId: string | null) =>
        inTransaction(db, (tx) =>
          appendAudit(tx, {
            actor: normalizeUsername(username) || '(empty)',
            action: 'auth.login_failed',
            subject: `user:${normalizeUsername(username)}`,
            detail: { reason, userId },
          }),
        ).then(() => null);
      const user = await findUserByUsername(db, username);
      if (!user) {
        decoy ??= hashPassword('not a password of anyone');
        await verifyPassword(password, await decoy);
        return refused('unknown user', null);
      }
      const ok = await verifyPassword(password, user.passwordHash);
      if (!ok) return refused('wrong password', user.id);
      if (user.disabledAt !== null) return refused('user disabled', user.id);
      const rehash = needsRehash(user.passwordHash) ? await hashPassword(password) : null;
      await inTransaction(db, async (tx) => {
        if (rehash) await setPasswordHash(tx, user.id, rehash);
        await appendAudit(tx, {
          actor: user.username,
          action: 'auth.login',
          subject: `user:${user.username}`,
          detail: { userId: user.id, ...(rehash ? { passwordRehashed: true } : {}) },
        });
      });
      const { token, expiresAt } = await tokens.sign(user.id);
      return { token, user: publicUser(user), expiresAt };
    },

    async authenticate(token) {
      const id = await tokens.verify(token);
      if (!id) return null;
      const user = await findUserById(db, id);
      if (!user || user.disabledAt !== null || user.roles.length === 0) return null;
      return publicUser(user);
    },
  };
}
