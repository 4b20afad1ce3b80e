/**
 * The keys that open the database's secrets: the key-encryption key (KEK) ring a process was
 * configured with, the device token pepper kept wrapped under it (table platform_key), and the
 * wrapping of device command keys. Registered per database at start (like the credential listeners
 * of db/devices.ts), so the broker's token check, provisioning and the command dispatcher of one
 * platform all use the same ring without handing it through every call.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../shared/config.ts';
import {
  type Kek,
  type Keyring,
  KeyUnwrapError,
  keyringOf,
  parseKek,
  unwrapSecret,
  wrappedUnder,
  wrapSecret,
} from '../shared/key-wrap.ts';
import type { Database, Sql } from './client.ts';

interface Keys {
  ring: Keyring;
  pepper: Promise<Buffer> | null;
}

const registry = new WeakMap<Database, Keys>();

export class NoKeyringError extends Error {}

/** Makes `ring` the keys of this database for everything in this process. */
export function registerKeyring(db: Database, ring: Keyring): void {
  registry.set(db, { ring, pepper: null });
}

export function keyring(db: Database): Keyring {
  return keysOf(db).ring;
}

function keysOf(db: Database): Keys {
  const keys = registry.get(db);
  if (!keys)
    throw new NoKeyringError('no key-encryption key is configured for this database (KEY_ENCRYPTION_KEY)');
  return keys;
}

/**
 * Registers the ring for this database and checks at once that it opens the database's keys, so a
 * wrong KEK stops the start with the fingerprints named instead of failing the first command.
 */
export async function openKeys(db: Database, ring: Keyring): Promise<void> {
  registerKeyring(db, ring);
  try {
    await tokenPepper(db);
  } catch (e) {
    if (!(e instanceof KeyUnwrapError)) throw e;
    throw new Error(`KEY_ENCRYPTION_KEY does not open this database's keys: ${e.message}`);
  }
}

export const KEK_FILE = 'key-encryption-key';

/**
 * The embedded platform's KEK: generated on first start and kept in DATA_DIR (mode 600), next to the
 * database folder but not in it. With DATABASE_URL it comes from KEY_ENCRYPTION_KEY instead.
 */
export function loadOrCreateKek(dataDir: string): Kek {
  const path = join(dataDir, KEK_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    // 'wx' fails if the file exists, so two processes starting at once keep the first one's key.
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const kek = parseKek(readFileSync(path, 'utf8'));
  if (!kek) throw new Error(`${path} holds no usable key-encryption key`);
  return kek;
}

/**
 * The ring the configuration gives: KEY_ENCRYPTION_KEY (and KEY_ENCRYPTION_KEY_PREVIOUS during a
 * rotation); embedded, the key kept in DATA_DIR. Null with DATABASE_URL and no key (an ingest-only
 * process, which opens no secrets; the configuration check refuses that for the api).
 */
export function keyringFromConfig(config: Config): Keyring | null {
  const previous = config.KEY_ENCRYPTION_KEY_PREVIOUS ? [parseKek(config.KEY_ENCRYPTION_KEY_PREVIOUS)!] : [];
  if (config.KEY_ENCRYPTION_KEY) return keyringOf(parseKek(config.KEY_ENCRYPTION_KEY)!, previous);
  if (config.DATABASE_URL === undefined) return keyringOf(loadOrCreateKek(config.DATA_DIR), previous);
  return null;
}

const PEPPER = 'device-token-pepper';
const platformOwner = (name: string) => `platform:${name}`;
export const commandKeyOwner = (deviceId: string) => `device:${deviceId}`;

/**
 * The pepper device token hashes are keyed with: made once per database, kept wrapped. Read once
 * per process; a KEK that does not open it fails here, with the fingerprints named.
 */
export function tokenPepper(db: Database): Promise<Buffer> {
  const keys = keysOf(db);
  keys.pepper ??= (async () => {
    await db.query('insert into platform_key (name, wrapped) values ($1, $2) on conflict (name) do nothing', [
      PEPPER,
      wrapSecret(keys.ring.current, randomBytes(32).toString('hex'), platformOwner(PEPPER)),
    ]);
    const { rows } = await db.query<{ wrapped: string }>('select wrapped from platform_key where name = $1', [
      PEPPER,
    ]);
    return Buffer.from(unwrapSecret(keys.ring, rows[0]!.wrapped, platformOwner(PEPPER)), 'hex');
  })();
  keys.pepper.catch(() => {
    keys.pepper = null;
  });
  return keys.pepper;
}

export function sealCommandKey(ring: Keyring, deviceId: string, commandKey: string): string {
  return wrapSecret(ring.current, commandKey, commandKeyOwner(deviceId));
}

export function openCommandKey(ring: Keyring, deviceId: string, stored: string): string {
  return isPlainCommandKey(stored) ? stored : unwrapSecret(ring, stored, commandKeyOwner(deviceId));
}

/** A command key as versions before wrapping stored it: 64 hex digits. */
const isPlainCommandKey = (stored: string) => /^[0-9a-f]{64}$/.test(stored);

export interface RewrapResult {
  /** Keys that were wrapped under another KEK of the ring and now are under the current one. */
  rewrapped: number;
  /** Command keys stored in plain text by an older version, now wrapped. */
  wrappedPlain: number;
  /** The KEK everything is wrapped under now. */
  fingerprint: string;
}

/**
 * Wraps every secret under the ring's current KEK: those under a previous one, and plain command
 * keys left by older versions (with `plainOnly`, only those: what a start does on its own). One
 * transaction with the rows locked: a key that does not open fails it all and changes nothing.
 */
export async function rewrapKeys(tx: Sql, ring: Keyring, { plainOnly = false } = {}): Promise<RewrapResult> {
  const result = { rewrapped: 0, wrappedPlain: 0, fingerprint: ring.current.fingerprint };
  const devices = await tx.query<{ id: string; command_key: string }>(
    'select id, command_key from device where command_key is not null order by id for update',
  );
  const stale = (stored: string) =>
    isPlainCommandKey(stored) || (!plainOnly && wrappedUnder(stored) !== ring.current.fingerprint);
  const ids: string[] = [];
  const wrapped: string[] = [];
  for (const d of devices.rows.filter((r) => stale(r.command_key))) {
    if (isPlainCommandKey(d.command_key)) result.wrappedPlain++;
    else result.rewrapped++;
    ids.push(d.id);
    wrapped.push(sealCommandKey(ring, d.id, openCommandKey(ring, d.id, d.command_key)));
  }
  if (ids.length > 0) {
    await tx.query(
      `update device set command_key = u.k from unnest($1::text[], $2::text[]) as u(id, k) where device.id = u.id`,
      [ids, wrapped],
    );
  }
  if (plainOnly) return result;
  const platform = await tx.query<{ name: string; wrapped: string }>(
    'select name, wrapped from platform_key order by name for update',
  );
  for (const p of platform.rows.filter((r) => wrappedUnder(r.wrapped) !== ring.current.fingerprint)) {
    const secret = unwrapSecret(ring, p.wrapped, platformOwner(p.name));
    await tx.query('update platform_key set wrapped = $2 where name = $1', [
      p.name,
      wrapSecret(ring.current, secret, platformOwner(p.name)),
    ]);
    result.rewrapped++;
  }
  return result;
}

/** How many secrets are still under a KEK other than the current one (or in plain text). */
export async function keysNotUnder(db: Sql, fingerprint: string): Promise<number> {
  const { rows } = await db.query<{ n: string | number }>(
    `select (select count(*) from device where command_key is not null and command_key not like $1)
          + (select count(*) from platform_key where wrapped not like $1) as n`,
    [`kw1$${fingerprint}$%`],
  );
  return Number(rows[0]?.n ?? 0);
}
