/**
 * The device registry: provisioning (a device, its machine and the installation linking them),
 * disabling, and the credential check the embedded broker asks on every CONNECT. Each device keeps
 * two one-way forms of its token: the SHA-256 the embedded broker checks, and the Mosquitto hash
 * a production broker's password file is rebuilt from (broker/mosquitto-sync.ts).
 */
import { mosquittoPasswordHash } from '../../broker/mosquitto-passwords.ts';
import type { Database, Sql } from '../../db/client.ts';
import { commandKeyFor, hashToken, tokenMatches } from '../../shared/credentials.ts';
import { DeviceIdSchema } from '../../shared/protocol.ts';

export interface MachineRecord {
  id: string;
  make: string;
  model: string;
  type: string;
  serial: string;
  year: number | null;
}

export interface DeviceProvision {
  deviceId: string;
  token: string;
  machine: MachineRecord;
}

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

async function credentialsChanged(db: Database): Promise<void> {
  await Promise.all([...(listeners.get(db) ?? [])].map((listener) => listener()));
}

/** User names the broker keeps for the platform's own service accounts (deploy/mosquitto/acl). */
export const RESERVED_DEVICE_PREFIX = 'svc-';

export class InvalidProvisionError extends Error {}

function problemsOf(items: DeviceProvision[]): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const { deviceId, token } of items) {
    const name = JSON.stringify(deviceId);
    if (!DeviceIdSchema.safeParse(deviceId).success) problems.push(`${name}: not a valid device id`);
    else if (deviceId.startsWith(RESERVED_DEVICE_PREFIX))
      problems.push(`${name}: ids starting with ${RESERVED_DEVICE_PREFIX} are reserved for service accounts`);
    if (seen.has(deviceId)) problems.push(`${name}: listed twice`);
    seen.add(deviceId);
    if (typeof token !== 'string' || token.length === 0) problems.push(`${name}: empty token`);
  }
  return problems;
}

/**
 * Idempotent: provisioning the same device again refreshes its token and keeps its history. All or
 * nothing: one invalid item rejects the whole batch with every problem named. When it resolves, the
 * credential listeners have run (the broker's password file is up to date, where one is kept).
 */
export async function provisionDevices(db: Database, items: DeviceProvision[]): Promise<void> {
  if (items.length === 0) return;
  const problems = problemsOf(items);
  if (problems.length > 0)
    throw new InvalidProvisionError(`cannot provision devices: ${problems.join('; ')}`);
  const brokerHashes = await Promise.all(items.map((i) => mosquittoPasswordHash(i.token)));
  await db.transaction(async (tx) => {
    const m = items.map((i) => i.machine);
    await tx.query(
      `insert into machine (id, make, model, type, serial, year)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
       on conflict (id) do update set make = excluded.make, model = excluded.model, type = excluded.type,
         serial = excluded.serial, year = excluded.year`,
      [
        m.map((x) => x.id),
        m.map((x) => x.make),
        m.map((x) => x.model),
        m.map((x) => x.type),
        m.map((x) => x.serial),
        m.map((x) => x.year),
      ],
    );
    await tx.query(
      `insert into device (id, token_hash, broker_password_hash, command_key)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])
       on conflict (id) do update set token_hash = excluded.token_hash,
         broker_password_hash = excluded.broker_password_hash, command_key = excluded.command_key`,
      [
        items.map((i) => i.deviceId),
        items.map((i) => hashToken(i.token)),
        brokerHashes,
        items.map((i) => commandKeyFor(i.token)),
      ],
    );
    await installIfAbsent(tx, items);
  });
  await credentialsChanged(db);
}

/**
 * Disables devices: they can no longer log in (the embedded broker asks on every CONNECT; the
 * password file loses them at the next sync, which the listeners run now). Unknown ids are
 * ignored; returns the ids that were enabled until now.
 */
export async function disableDevices(db: Database, deviceIds: string[]): Promise<string[]> {
  if (deviceIds.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `update device set disabled_at = now() where id = any($1::text[]) and disabled_at is null returning id`,
    [deviceIds],
  );
  if (rows.length > 0) await credentialsChanged(db);
  return rows.map((r) => r.id);
}

async function installIfAbsent(tx: Sql, items: DeviceProvision[]): Promise<void> {
  await tx.query(
    `insert into installation (device_id, machine_id)
     select d, m from unnest($1::text[], $2::text[]) as u(d, m)
     where not exists (select 1 from installation i where i.device_id = u.d and i.removed_at is null)
       and not exists (select 1 from installation i where i.machine_id = u.m and i.removed_at is null)`,
    [items.map((i) => i.deviceId), items.map((i) => i.machine.id)],
  );
}

/** True when the token is the device's current one and the device is not disabled. */
export async function verifyDeviceToken(db: Sql, deviceId: string, token: string): Promise<boolean> {
  const { rows } = await db.query<{ token_hash: string }>(
    'select token_hash from device where id = $1 and disabled_at is null',
    [deviceId],
  );
  return rows.length === 1 && tokenMatches(token, rows[0]!.token_hash);
}
