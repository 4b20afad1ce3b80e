/**
 * The device table's queries that more than one role runs: the credential check the broker asks on
 * every CONNECT, the broker password file's entries, ingest's check for unknown senders, and the
 * command key, lock and existence checks of the api's features. Provisioning, disabling and enabling
 * (the writes) are the api's (api/devices/store.ts); after each commit the writer calls
 * credentialsChanged here, so whoever keeps a broker's password file in this process hears of it.
 * On PostgreSQL every process hears of every commit, its own and other nodes', whatever made it:
 * the table's trigger sends a NOTIFY from the writing transaction
 * (db/migrations/017_credentials_notify.sql).
 */
import { tokenMatches } from '../shared/credentials.ts';
import type { Database, Sql } from './client.ts';
import { tokenPepper } from './keys.ts';

/** The channel the device table's trigger notifies when credentials change. */
const CREDENTIALS_CHANNEL = 'device_credentials';

/**
 * Why a listener runs. `committed-here`: this process committed a change. `notified`: some process
 * committed one, this one included (PostgreSQL only). `reconnected`: the listening connection was
 * lost and is back, and changes committed meanwhile were not heard (PostgreSQL only): assume
 * anything changed. On PostgreSQL a change of this process's is heard twice, `committed-here` and
 * `notified`: a listener must not mind (the password file's rewrites are coalesced).
 */
export type CredentialsChange = 'committed-here' | 'notified' | 'reconnected';
export type CredentialsListener = (change: CredentialsChange) => Promise<void>;

// Per database, so that several platforms in one process (tests) each hear only their own registry.
const listeners = new WeakMap<Database, Set<CredentialsListener>>();

/**
 * Registers a listener for credential changes in this database: those committed in this process,
 * and on PostgreSQL those of every process. Resolves once nothing committed afterwards can be
 * missed (LISTEN is in effect), so a caller reads the registry after this, not before. Returns the
 * removal.
 */
export async function onCredentialsChanged(
  db: Database,
  listener: CredentialsListener,
): Promise<() => Promise<void>> {
  const set = listeners.get(db) ?? new Set();
  listeners.set(db, set);
  set.add(listener);
  let unlisten = async () => {};
  if (db.listen) {
    try {
      unlisten = await db.listen(CREDENTIALS_CHANNEL, (event) => {
        // The listener reports its own failures; nothing here could do better.
        listener(event).catch(() => {});
      });
    } catch (e) {
      set.delete(listener);
      throw e;
    }
  }
  return async () => {
    set.delete(listener);
    await unlisten();
  };
}

/** Runs this process's listeners; the writer calls it after its commit. */
export async function credentialsChanged(db: Database): Promise<void> {
  await Promise.all([...(listeners.get(db) ?? [])].map((listener) => listener('committed-here')));
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
export async function deviceBrokerCredentials(db: Sql): Promise<BrokerCredential[]> {
  const { rows } = await db.query<{ id: string; broker_password_hash: string }>(
    `select id, broker_password_hash from device
     where disabled_at is null and broker_password_hash is not null
     order by id`,
  );
  return rows.map((r) => ({ username: r.id, hash: r.broker_password_hash }));
}

export interface BrokerCredential {
  username: string;
  hash: string;
}

// Any constant shared by every process of the platform (db/migrate.ts holds 727_001).
const PASSWORD_FILE_LOCK = 727_003;

/**
 * Runs `write` with the registry's broker credentials, in a transaction that holds an advisory lock
 * until `write` has finished: whoever writes a password file from the registry (every api node,
 * `npm run broker:sync`) takes turns, and reads the registry only once it has its turn. So the last
 * writer has read every change committed before it wrote; without the turns a node that read the
 * registry first could write its older copy last. The lock is one for the whole platform, whatever
 * the file's path: on a shared volume the nodes write one file, and a node has one file anyway.
 */
export async function withBrokerCredentials<T>(
  db: Database,
  write: (entries: BrokerCredential[]) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    // Read committed, whatever the server's default: each statement then sees what was committed
    // before it began, so the read below sees what was committed while waiting for the lock. Under
    // repeatable read the snapshot would date from the lock statement, before the wait.
    await tx.query('set transaction isolation level read committed');
    await tx.query('select pg_advisory_xact_lock($1)', [PASSWORD_FILE_LOCK]);
    return write(await deviceBrokerCredentials(tx));
  });
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
