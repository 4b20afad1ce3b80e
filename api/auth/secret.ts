/**
 * The embedded platform's token secret: generated on first start and kept in DATA_DIR, so users
 * stay signed in across a restart. With DATABASE_URL set, JWT_SECRET must be given instead (every
 * api node has to share it), which the configuration check enforces. The demo fleet's token key
 * (SIM_TOKEN_KEY_FILE) is kept the same way.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const SECRET_FILE = 'jwt-secret';
/** The key the embedded demo fleet's device tokens are derived from (simulators/identity.ts). */
export const SIM_TOKEN_KEY_FILE = 'sim-token-key';

export function loadOrCreateSecret(dataDir: string, file = SECRET_FILE): string {
  const path = join(dataDir, file);
  mkdirSync(dataDir, { recursive: true });
  try {
    // 'wx' fails if the file exists, so two processes starting at once keep the first one's secret.
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const secret = readFileSync(path, 'utf8').trim();
  if (secret.length < 32) throw new Error(`${path} holds no usable secret: delete it to have a new one made`);
  return secret;
}
