/**
 * Bearer tokens: JWT signed with HS256 through `jose` — no dependencies, a strict algorithm
 * allow-list on verify, and not tied to fastify, so the socket.io handshake verifies tokens with the
 * same code as the HTTP hook. The token names the user (sub) and nothing else that matters: roles
 * and the disabled flag are read from the database on every request, so a change applies at once.
 */
import { errors, jwtVerify, SignJWT } from 'jose';

export const TOKEN_ISSUER = 'recovery-telematics';

export interface Tokens {
  /** A token for the user id, and when it expires. */
  sign(userId: string): Promise<{ token: string; expiresAt: Date }>;
  /** The user id in a valid token, or null (bad signature, expired, malformed, wrong algorithm). */
  verify(token: string): Promise<string | null>;
}

export interface TokenOptions {
  secret: string;
  ttlSeconds: number;
  now?: () => number;
}

export function createTokens({ secret, ttlSeconds, now = Date.now }: TokenOptions): Tokens {
  const key = new TextEncoder().encode(secret);
  return {
    async sign(userId) {
      const iat = Math.floor(now() / 1000);
      const exp = iat + ttlSeconds;
      const token = await new SignJWT({})
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
          requiredClaims: ['sub', 'exp'],
        });
        return payload.sub ?? null;
      } catch (e) {
        if (e instanceof errors.JOSEError || e instanceof TypeError) return null;
        throw e;
      }
    },
  };
}
