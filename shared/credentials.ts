/**
 * Device tokens: 128-bit random secrets, stored only as SHA-256. A fast hash is right here (unlike
 * user passwords): the token has full entropy, so there is nothing to brute-force, and thousands of
 * devices reconnecting after a broker restart must not queue behind a slow KDF.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

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

/**
 * The key a box checks command signatures with (shared/commands.ts), derived from its token so a
 * box needs no second secret: HMAC-SHA256(token, "command-key v1"), hex. The platform stores it at
 * provisioning, when it sees the token; a database reader could sign commands with it, but not log
 * in as the device (that takes the token itself).
 */
export function commandKeyFor(token: string): string {
  return createHmac('sha256', token).update('command-key v1').digest('hex');
}
