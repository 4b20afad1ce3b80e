/**
 * Device tokens: 128-bit random secrets, stored only as SHA-256. A fast hash is right here (unlike
 * user passwords): the token has full entropy, so there is nothing to brute-force, and thousands of
 * devices reconnecting after a broker restart must not queue behind a slow KDF.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export function newDeviceToken(): string {
  return randomBytes(16).toString('hex');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
