/**
 * What the registry says about one device, for people: never its token, hashes or command key
 * (the select names every column it reads, so a credential column added later stays out).
 */
import type { Sql } from '../../db/client.ts';
import type { MachineRecord } from './store.ts';

export interface DeviceView {
  id: string;
  createdAt: string;
  disabledAt: string | null;
  /** The machine it is installed on now, null when it sits on none. */
  machine: MachineRecord | null;
  installedAt: string | null;
  /** The broker connection as the device last reported it; null when it never said. */
  online: boolean | null;
  /** Device time of its newest usable fix; null before the first. */
  lastFixAt: string | null;
}

interface Row {
  id: string;
  created_at: Date | string;
  disabled_at: Date | string | null;
  machine_id: string | null;
  make: string | null;
  model: string | null;
  type: string | null;
  serial: string | null;
  year: number | null;
  installed_at: Date | string | null;
  online: boolean | null;
  last_fix_at: Date | string | null;
}

const iso = (v: Date | string | null) => (v === null ? null : new Date(v).toISOString());

export async function getDeviceView(db: Sql, id: string): Promise<DeviceView | null> {
  const { rows } = await db.query<Row>(
    `select d.id, d.created_at, d.disabled_at, m.id as machine_id, m.make, m.model, m.type, m.serial, m.year,
            i.installed_at, ds.online, lp.ts as last_fix_at
       from device d
       left join installation i on i.device_id = d.id and i.removed_at is null
       left join machine m on m.id = i.machine_id
       left join device_status ds on ds.device_id = d.id
       left join latest_position lp on lp.device_id = d.id
      where d.id = $1`,
    [id],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    createdAt: iso(r.created_at)!,
    disabledAt: iso(r.disabled_at),
    machine:
      r.machine_id === null
        ? null
        : {
            id: r.machine_id,
            make: r.make ?? '',
            model: r.model ?? '',
            type: r.type ?? '',
            serial: r.serial ?? '',
            year: r.year,
          },
    installedAt: iso(r.installed_at),
    online: r.online,
    lastFixAt: iso(r.last_fix_at),
  };
}
