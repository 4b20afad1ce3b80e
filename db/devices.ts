/**
 * The device table's queries that more than one role runs: the credential check the broker asks on
 * every CONNECT, the broker password file's entries, ingest's check for unknown senders, and the
 * command key, lock and existence checks of the api's features. Provisioning, disabling and enabling
 * (the writes) are the api's (api/devices/store.ts); they announce credential changes here, so
 * whoever keeps a broker's password file hears of them in the same process.
 */
import { tokenMatches } from '../shared/credentials.ts';
import type { Database, Sql } from './client.ts';
import { tokenPepper } from './keys.ts';

/** Called after a commit changed which device may log in with what, e.g. to rewrite a password file. */
export type CredentialsListener = () => Promise<void>;

// Per database, so that several platforms in one process (tests) each hear only their own registry.
const listeners = new WeakMap<Database, Set<CredentialsListener>>();

/** Registers a listener for credential changes in this database; returns its removal. */
export function onCredentialsChanged(db: Database, listener: CredentialsListener): () => void {
  const set = listeners.get(db) ?? new Set();
  listeners.set(db, set);
  set.add(listener);
  return () => {
    set.delete(listener);
  };
}

/** Runs the listeners; the writer calls it after its commit. */
export async function credentialsChanged(db: Database): Promise<void> {
  await Promise.all([...(listeners.get(db) ?? [])].map((listener) => listener()));
}

/** True when the token is the device's current one and the device is not disabled. */
export async function verifyDeviceToken(db: Database, deviceId: string, token: string): Promise<boolean> {
  const { rows } = await db.query<{ token_hash: string | null }>(
    'select token_hash from device where id = $1 and disabled_at is null',
    [deviceId],
  );
  const stored = rows[0]?.token_hash;
  // A device whose hash predates the pepper (migration 015) has none: it logs in once provisioned again.
  if (!stored) return false;
  return tokenMatches(await tokenPepper(db), deviceId, token, stored);
}

/** Enabled devices with a broker credential (their Mosquitto hash), by id. */
export async function deviceBrokerCredentials(db: Sql): Promise<{ username: string; hash: string }[]> {
  const { rows } = await db.query<{ id: string; broker_password_hash: string }>(
    `select id, broker_password_hash from device
     where disabled_at is null and broker_password_hash is not null
     order by id`,
  );
  return rows.map((r) => ({ username: r.id, hash: r.broker_password_hash }));
}

/**
 * The ids among these that are not in the registry. NOT EXISTS probes the primary key per id, where
 * an EXCEPT against `device` would read the whole registry every time.
 */
export async function unknownDeviceIds(tx: Sql, ids: readonly string[]): Promise<string[]> {
  const { rows } = await tx.query<{ id: string }>(
    `select u.id from unnest($1::text[]) as u(id)
     where not exists (select 1 from device d where d.id = u.id)`,
    [ids],
  );
  return rows.map((r) => r.id);
}

export async function deviceExists(db: Sql, deviceId: string): Promise<boolean> {
  const { rows } = await db.query('select 1 from device where id = $1', [deviceId]);
  return rows.length > 0;
}

/**
 * The key the box checks command signatures with, as stored (wrapped: db/keys.ts openCommandKey),
 * and whether the device is disabled; null when unknown.
 */
export async function deviceCommandKey(
  tx: Sql,
  deviceId: string,
): Promise<{ commandKey: string | null; disabled: boolean } | null> {
  const { rows } = await tx.query<{ command_key: string | null; disabled_at: Date | null }>(
    'select command_key, disabled_at from device where id = $1',
    [deviceId],
  );
  const row = rows[0];
  return row ? { commandKey: row.command_key, disabled: row.disabled_at !== null } : null;
}

/** Locks the device's row until the transaction ends, so work on one device runs one at a time. */
/** The device's next command counter (strictly increasing, never reused; docs/device-protocol.md). */
export async function nextCommandCounter(tx: Sql, deviceId: string): Promise<number> {
  const { rows } = await tx.query<{ counter: string | number }>(
    'update device set command_counter = command_counter + 1 where id = $1 returning command_counter as counter',
    [deviceId],
  );
  if (!rows[0]) throw new Error(`no device ${deviceId}`);
  return Number(rows[0].counter);
}

export async function lockDevice(tx: Sql, deviceId: string): Promise<void> {
  await tx.query('select id from device where id = $1 for update', [deviceId]);
}
