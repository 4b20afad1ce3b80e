/**
 * Device tokens: 128-bit random secrets, stored only as SHA-256. A fast hash is right here (unlike
 * user passwords): the token has full entropy, so there is nothing to brute-force, and thousands of
 * devices reconnecting after a broker restart must not queue behind a slow KDF.
 */
import {
  createHash,
  createHmac,
  pbkdf2 as pbkdf2Callback,
  pbkdf2Sync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { promisify } from 'node:util';

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

// --- Mosquitto 2.0 password hashes -----------------------------------------------------------------
// The format `mosquitto_passwd` writes (checked against mosquitto 2.0.11):
// `$7$101$<base64 12-byte salt>$<base64 64-byte PBKDF2-HMAC-SHA512>`. 101 iterations is mosquitto's
// own default; the tokens are 128-bit random, so a slow KDF would protect nothing and would only
// slow down the broker when every device reconnects at once.

const pbkdf2 = promisify(pbkdf2Callback);

export const MOSQUITTO_ITERATIONS = 101;
const SALT_BYTES = 12;
const KEY_BYTES = 64;
/** A mosquitto 2.0 `$7$` hash: iterations, base64 salt, base64 PBKDF2-HMAC-SHA512 key. */
export const MOSQUITTO_HASH_FORMAT = /^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** The `$7$…` hash mosquitto checks `password` against; a fresh random salt unless one is given. */
export async function mosquittoPasswordHash(
  password: string,
  salt = randomBytes(SALT_BYTES),
): Promise<string> {
  const key = await pbkdf2(password, salt, MOSQUITTO_ITERATIONS, KEY_BYTES, 'sha512');
  return `$7$${MOSQUITTO_ITERATIONS}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` is the one `hash` was made from (the check mosquitto does on CONNECT). */
export function mosquittoPasswordMatches(password: string, hash: string): boolean {
  const m = MOSQUITTO_HASH_FORMAT.exec(hash);
  if (!m) return false;
  const expected = Buffer.from(m[3] as string, 'base64');
  const key = pbkdf2Sync(
    password,
    Buffer.from(m[2] as string, 'base64'),
    Number(m[1]),
    expected.length,
    'sha512',
  );
  return key.length === expected.length && timingSafeEqual(key, expected);
}

/**
 * Whether an Authorization header carries the metrics scrape token (METRICS_TOKEN), compared in
 * constant time; always true when no token is configured.
 */
export function scrapeAuthorized(authorization: string | undefined, token: string | undefined): boolean {
  if (token === undefined) return true;
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  return presented !== undefined && tokenMatches(presented, hashToken(token));
}
