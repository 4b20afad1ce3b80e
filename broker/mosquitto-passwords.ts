/**
 * Mosquitto 2.0 password files: the `$7$` hash of a device token and the file itself.
 *
 * The format is the one `mosquitto_passwd` writes (checked against mosquitto 2.0.11):
 * `user:$7$101$<base64 12-byte salt>$<base64 64-byte PBKDF2-HMAC-SHA512>`. 101 iterations is
 * mosquitto's own default; the tokens are 128-bit random, so a slow KDF would protect nothing and
 * would only slow down the broker when every device reconnects at once.
 */
import { pbkdf2 as pbkdf2Callback, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const pbkdf2 = promisify(pbkdf2Callback);

export const MOSQUITTO_ITERATIONS = 101;
const SALT_BYTES = 12;
const KEY_BYTES = 64;
const HASH_FORMAT = /^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;
/** User names the password file can hold: no `:` (the separator), no white space, no line breaks. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

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
  const m = HASH_FORMAT.exec(hash);
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

export interface PasswordEntry {
  username: string;
  hash: string;
}

/**
 * The password file for these entries, sorted by user name so that the same registry always gives
 * the same bytes (an unchanged file is not rewritten, and the broker not reloaded for nothing).
 * Throws on an entry mosquitto would misread rather than writing a file that locks everyone out.
 */
export function renderPasswordFile(entries: PasswordEntry[]): string {
  const seen = new Set<string>();
  for (const e of entries) {
    if (!USERNAME.test(e.username)) throw new Error(`password file: user name ${JSON.stringify(e.username)}`);
    if (!HASH_FORMAT.test(e.hash)) throw new Error(`password file: ${e.username} has no $7$ hash`);
    if (seen.has(e.username)) throw new Error(`password file: ${e.username} appears twice`);
    seen.add(e.username);
  }
  const lines = [...entries]
    .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
    .map((e) => `${e.username}:${e.hash}\n`);
  return lines.join('');
}

/**
 * Replaces the file at `path` with `content` in one step (a temporary file in the same folder,
 * then rename), so a broker reading it at any moment sees the old file or the new one, never half
 * of one. Returns false, and writes nothing, when the file already holds exactly this content.
 */
export async function replaceFile(path: string, content: string): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (current === content) return false;
  const temporary = join(
    dirname(path),
    `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}`,
  );
  try {
    // Owner-only: the hashes are not tokens, but there is no reason to show them to anyone else.
    await writeFile(temporary, content, { mode: 0o600, flush: true });
    await rename(temporary, path);
  } catch (e) {
    await rm(temporary, { force: true });
    throw e;
  }
  return true;
}
