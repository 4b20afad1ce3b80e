/**
 * Mosquitto 2.0 password files: rendering and replacing the file (the `$7$` hash of a device token
 * is in shared/credentials.ts, where provisioning makes it).
 * One line per device: `user:<hash>`.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MOSQUITTO_HASH_FORMAT } from '../shared/credentials.ts';

/** User names the password file can hold: no `:` (the separator), no white space, no line breaks. */
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

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
    if (!MOSQUITTO_HASH_FORMAT.test(e.hash)) throw new Error(`password file: ${e.username} has no $7$ hash`);
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
