/**
 * Device tokens: at least 128 bits of randomness, stored only as HMAC-SHA256 under the platform's
 * token pepper (a random secret kept wrapped under the key-encryption key, db/keys.ts), with the
 * device id in the input. So a copy of the database alone cannot test a guessed token, and two
 * devices given the same token get different hashes. A keyed fast hash rather than a slow one: the
 * token has full entropy, so there is nothing to brute-force, and thousands of devices reconnecting
 * after a broker restart must not queue behind a slow KDF.
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

/** 32 characters: as 32 hex digits that is 128 bits, the least a token may carry. */
export const MIN_TOKEN_LENGTH = 32;
export const MAX_TOKEN_LENGTH = 256;
const TOKEN_ALPHABET = /^[\x21-\x7e]+$/;
/** Fewer distinct characters than this in 32 is no random token ('aaaa…', '0101…'). */
const MIN_DISTINCT = 8;

export function newDeviceToken(): string {
  return randomBytes(16).toString('hex');
}

/** Why a token a caller chose cannot be a device's, or null when it can. */
export function deviceTokenProblem(token: string): string | null {
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH)
    return `the token must be ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters (128 bits or more, e.g. openssl rand -hex 16)`;
  if (!TOKEN_ALPHABET.test(token)) return 'the token must be printable ASCII without spaces';
  if (new Set(token).size < MIN_DISTINCT) return 'the token is not random (too few distinct characters)';
  return null;
}

const TOKEN_HASH_PREFIX = 'hmac-sha256$';

export function hashToken(pepper: Buffer, deviceId: string, token: string): string {
  const mac = createHmac('sha256', pepper).update(deviceId, 'utf8').update('\0').update(token, 'utf8');
  return TOKEN_HASH_PREFIX + mac.digest('hex');
}

export function tokenMatches(pepper: Buffer, deviceId: string, token: string, storedHash: string): boolean {
  const a = Buffer.from(hashToken(pepper, deviceId, token));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The key a box checks command signatures with (shared/commands.ts), derived from its token so a
 * box needs no second secret: HMAC-SHA256(token, "command-key v1"), hex. The platform stores it at
 * provisioning, when it sees the token, wrapped under the key-encryption key (shared/key-wrap.ts):
 * a reader of the database alone can neither sign commands nor log in as the device. A new key
 * comes with a new token (rolling the device's key, docs/device-protocol.md).
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
  if (presented === undefined) return false;
  // Digests of equal length, so the comparison takes the same time whatever was presented.
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(presented), digest(token));
}
