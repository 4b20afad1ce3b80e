/**
 * Bearer tokens: JWT signed with HS256 through `jose` — no dependencies, a strict algorithm
 * allow-list on verify, and not tied to fastify, so the socket.io handshake verifies tokens with the
 * same code as the HTTP hook. The token names the user (sub) and the user's token version it was
 * issued under (ver) and nothing else that matters: roles, the disabled flag and the current version
 * are read from the database on every request, so a change (or a sign-out) applies at once.
 */
import { errors, jwtVerify, SignJWT } from 'jose';

export const TOKEN_ISSUER = 'recovery-telematics';

/** What a valid token says. */
export interface TokenClaims {
  userId: string;
  /** The user's token version when it was issued; a higher one in the database ends it. */
  version: number;
  expiresAt: Date;
}

export interface Tokens {
  /** A token for the user id under its current token version, and when it expires. */
  sign(userId: string, version?: number): Promise<{ token: string; expiresAt: Date }>;
  /** The claims of a valid token, or null (bad signature, expired, malformed, wrong algorithm, no version). */
  verify(token: string): Promise<TokenClaims | null>;
}

export interface TokenOptions {
  secret: string;
  ttlSeconds: number;
  now?: () => number;
}

export function createTokens({ secret, ttlSeconds, now = Date.now }: TokenOptions): Tokens {
  const key = new TextEncoder().encode(secret);
  return {
    async sign(userId, version = 0) {
      const iat = Math.floor(now() / 1000);
      const exp = iat + ttlSeconds;
      const token = await new SignJWT({ ver: version })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(TOKEN_ISSUER)
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .sign(key);
      return { token, expiresAt: new Date(exp * 1000) };
    },
    async verify(token) {
      try {
        const { payload } = await jwtVerify(token, key, {
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          currentDate: new Date(now()),
          requiredClaims: ['sub', 'exp', 'ver'],
        });
        const { sub, exp, ver } = payload;
        if (!sub || typeof exp !== 'number' || typeof ver !== 'number' || !Number.isInteger(ver)) return null;
        return { userId: sub, version: ver, expiresAt: new Date(exp * 1000) };
      } catch (e) {
        if (e instanceof errors.JOSEError || e instanceof TypeError) return null;
        throw e;
      }
    },
  };
}
