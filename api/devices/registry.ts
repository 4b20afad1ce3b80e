/**
 * The device registry: provisioning (a device, its machine and the installation linking them) and
 * the credential check the embedded broker asks on every CONNECT.
 */
import type { Database, Sql } from '../../db/client.ts';
import { hashToken, tokenMatches } from '../../shared/credentials.ts';

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

/** Idempotent: provisioning the same device again refreshes its token and keeps its history. */
export async function provisionDevices(db: Database, items: DeviceProvision[]): Promise<void> {
  if (items.length === 0) return;
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
      `insert into device (id, token_hash) select * from unnest($1::text[], $2::text[])
       on conflict (id) do update set token_hash = excluded.token_hash`,
      [items.map((i) => i.deviceId), items.map((i) => hashToken(i.token))],
    );
    await installIfAbsent(tx, items);
  });
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
