/**
 * The device registry: provisioning (a device, its machine and the installation linking them),
 * disabling and enabling again. The credential check the embedded broker asks on every CONNECT is
 * db/devices.ts's, which reads what is written here. Each device keeps two one-way forms of its
 * token: the peppered HMAC the embedded broker checks, and the Mosquitto hash a production broker's
 * password file is rebuilt from (broker/mosquitto-sync.ts); and its command key, wrapped under the
 * key-encryption key (db/keys.ts).
 */
import type { Database, Sql } from '../../db/client.ts';
import { credentialsChanged } from '../../db/devices.ts';
import { keyring, sealCommandKey, tokenPepper } from '../../db/keys.ts';
import {
  commandKeyFor,
  deviceTokenProblem,
  hashToken,
  mosquittoPasswordHash,
  newDeviceToken,
} from '../../shared/credentials.ts';
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
    const tokenProblem = typeof token === 'string' ? deviceTokenProblem(token) : 'no token';
    if (tokenProblem) problems.push(`${name}: ${tokenProblem}`);
  }
  // A machine or serial can be written once per statement: name the duplicate, not the database's error.
  for (const what of ['id', 'serial'] as const) {
    const seenMachines = new Set<string>();
    for (const { machine } of items) {
      if (seenMachines.has(machine[what]))
        problems.push(`machine ${what} ${JSON.stringify(machine[what])}: listed twice`);
      seenMachines.add(machine[what]);
    }
  }
  return problems;
}

/** Serials (unique) that another machine already carries, as problems. */
async function serialsTaken(tx: Sql, items: DeviceProvision[]): Promise<string[]> {
  const { rows } = await tx.query<{ serial: string; owner: string; wanted: string }>(
    `select u.s as serial, machine.id as owner, u.m as wanted
       from unnest($1::text[], $2::text[]) as u(m, s) join machine on machine.serial = u.s and machine.id <> u.m`,
    [items.map((i) => i.machine.id), items.map((i) => i.machine.serial)],
  );
  return rows.map(
    (r) =>
      `machine ${JSON.stringify(r.wanted)}: serial ${JSON.stringify(r.serial)} belongs to machine ${JSON.stringify(r.owner)}`,
  );
}

export interface ProvisionResult {
  /** Devices the registry did not know before. */
  created: string[];
  /** Devices it knew: token, broker hash and machine data refreshed, history kept. */
  refreshed: string[];
}

export interface ProvisionOptions {
  /**
   * Runs inside the provisioning transaction after its writes (e.g. to append to the audit log),
   * so both commit or neither does.
   */
  withinTransaction?: (tx: Sql, result: ProvisionResult) => Promise<void>;
}

/**
 * Idempotent: provisioning the same device again refreshes its token and keeps its history (a
 * disabled device stays disabled). All or nothing: one invalid item (or a serial another machine
 * carries) rejects the whole batch with every problem named. Once it has committed, every api node
 * that keeps a broker password file rewrites it within a fraction of a second
 * (broker/mosquitto-sync.ts).
 */
export async function provisionDevices(
  db: Database,
  items: DeviceProvision[],
  options: ProvisionOptions = {},
): Promise<ProvisionResult> {
  if (items.length === 0) return { created: [], refreshed: [] };
  const problems = problemsOf(items);
  if (problems.length > 0) throw invalid(problems);
  const brokerHashes = await Promise.all(items.map((i) => mosquittoPasswordHash(i.token)));
  const ring = keyring(db);
  const pepper = await tokenPepper(db);
  const result = await db.transaction(async (tx) => {
    const taken = await serialsTaken(tx, items);
    if (taken.length > 0) throw invalid(taken);
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
    // xmax is 0 on a row this statement inserted, the updating transaction's id on one it updated.
    const { rows } = await tx.query<{ id: string; created: boolean }>(
      `insert into device (id, token_hash, broker_password_hash, command_key)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])
       on conflict (id) do update set token_hash = excluded.token_hash,
         broker_password_hash = excluded.broker_password_hash, command_key = excluded.command_key
       returning id, (xmax = 0) as created`,
      [
        items.map((i) => i.deviceId),
        items.map((i) => hashToken(pepper, i.deviceId, i.token)),
        brokerHashes,
        items.map((i) => sealCommandKey(ring, i.deviceId, commandKeyFor(i.token))),
      ],
    );
    await installIfAbsent(tx, items);
    const created = new Set(rows.filter((r) => r.created).map((r) => r.id));
    const ids = items.map((i) => i.deviceId);
    const outcome = {
      created: ids.filter((id) => created.has(id)),
      refreshed: ids.filter((id) => !created.has(id)),
    };
    await options.withinTransaction?.(tx, outcome);
    return outcome;
  });
  await credentialsChanged(db);
  return result;
}

const invalid = (problems: string[]) =>
  new InvalidProvisionError(`cannot provision devices: ${problems.join('; ')}`);

type SwitchOptions = { withinTransaction?: (tx: Sql, changed: string[]) => Promise<void> };

/**
 * Disables devices: they can no longer log in (the embedded broker asks on every CONNECT; the
 * password file loses them at the rewrite that follows the commit). Unknown ids are
 * ignored; returns the ids that were enabled until now. `withinTransaction` runs with them before
 * the commit (not at all when there are none).
 */
export const disableDevices = (db: Database, deviceIds: string[], options: SwitchOptions = {}) =>
  setDisabled(db, deviceIds, true, options);

/**
 * Enables disabled devices again: they may log in with the token they had (the embedded broker
 * asks the registry; the password file gets them back at the rewrite that follows the commit, from the
 * broker hash kept while they were disabled). Unknown and enabled ids are ignored; returns the ids
 * that were disabled until now. `withinTransaction` as for disableDevices.
 */
export const enableDevices = (db: Database, deviceIds: string[], options: SwitchOptions = {}) =>
  setDisabled(db, deviceIds, false, options);

/** Moves the devices that are not yet so to `disabled`; the broker's logins follow. */
async function setDisabled(
  db: Database,
  deviceIds: string[],
  disabled: boolean,
  options: SwitchOptions,
): Promise<string[]> {
  if (deviceIds.length === 0) return [];
  const changed = await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ id: string }>(
      disabled
        ? 'update device set disabled_at = now() where id = any($1::text[]) and disabled_at is null returning id'
        : 'update device set disabled_at = null where id = any($1::text[]) and disabled_at is not null returning id',
      [deviceIds],
    );
    const ids = rows.map((r) => r.id);
    if (ids.length > 0) await options.withinTransaction?.(tx, ids);
    return ids;
  });
  if (changed.length > 0) await credentialsChanged(db);
  return changed;
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

/**
 * Rolls a device's key: a new random token, and with it new broker hashes and a new command key
 * (derived from the token, so the box learns it when it is given the token: docs/device-protocol.md).
 * The old token stops logging in and the old key stops signing at the commit. Returns the new
 * token, which is stored nowhere; null for an unknown device.
 */
export async function rollDeviceKey(
  db: Database,
  deviceId: string,
  options: { withinTransaction?: (tx: Sql) => Promise<void> } = {},
): Promise<{ token: string } | null> {
  const token = newDeviceToken();
  const brokerHash = await mosquittoPasswordHash(token);
  const ring = keyring(db);
  const pepper = await tokenPepper(db);
  const rolled = await db.transaction(async (tx) => {
    const { rows } = await tx.query(
      `update device set token_hash = $2, broker_password_hash = $3, command_key = $4
       where id = $1 returning id`,
      [
        deviceId,
        hashToken(pepper, deviceId, token),
        brokerHash,
        sealCommandKey(ring, deviceId, commandKeyFor(token)),
      ],
    );
    if (rows.length === 0) return false;
    await options.withinTransaction?.(tx);
    return true;
  });
  if (!rolled) return null;
  await credentialsChanged(db);
  return { token };
}
