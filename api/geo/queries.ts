/**
 * Reading positions for the location features: a machine's usable fixes across the devices installed
 * on it, a device's track, recovery candidates, and a machine's box health and daily totals.
 */
import type { Sql } from '../../db/client.ts';
import { deviceExists } from '../../db/devices.ts';
import { PLATFORM_TIME_ZONE } from '../../shared/config.ts';
import type { TrailFix } from '../../shared/geo-sites.ts';
import { contractInScope, machineInScope, type Viewer } from '../auth/scope.ts';

interface FixRow {
  ts: Date;
  lat: number;
  lon: number;
  spd: number | null;
  ign: boolean | null;
}

const toFix = (r: FixRow): TrailFix => ({
  ts: new Date(r.ts).getTime(),
  lat: r.lat,
  lon: r.lon,
  spd: r.spd,
  ign: r.ign,
});

// A usable fix, as shared/protocol hasUsableFix and latest_position have it.
const USABLE = `(t.fix is distinct from false) and not (t.lat = 0 and t.lon = 0)`;

/**
 * null when the machine is unknown. Only fixes taken while a device sat on the machine count, and
 * only those received by `to`: the trail as it was known then (a backlog uploaded later is not).
 */
export async function machineTrail(
  db: Sql,
  machineId: string,
  from: number,
  to: number,
): Promise<TrailFix[] | null> {
  const { rows: found } = await db.query('select 1 from machine where id = $1', [machineId]);
  if (found.length === 0) return null;
  const { rows } = await db.query<FixRow>(
    `select t.ts, t.lat, t.lon, t.spd, t.ign
     from installation i
     join telemetry t on t.device_id = i.device_id
      and t.ts >= greatest(i.installed_at, $2::timestamptz)
      and t.ts <= least(coalesce(i.removed_at, 'infinity'::timestamptz), $3::timestamptz)
     where i.machine_id = $1 and ${USABLE} and t.received_at <= $3::timestamptz
     order by t.ts, t.seq`,
    [machineId, new Date(from).toISOString(), new Date(to).toISOString()],
  );
  return rows.map(toFix);
}

/**
 * null when the device is unknown. Outside the scope all, only the fixes taken while the device sat
 * on a machine in the viewer's scope: a box moved from another dealer's machine keeps that trail.
 */
export async function deviceTrack(
  db: Sql,
  deviceId: string,
  from: number,
  to: number,
  viewer: Viewer,
): Promise<TrailFix[] | null> {
  if (!(await deviceExists(db, deviceId))) return null;
  const params: unknown[] = [deviceId, new Date(from).toISOString(), new Date(to).toISOString()];
  const inScope =
    viewer.scope.kind === 'all'
      ? 'true'
      : `exists (select 1 from installation ti where ti.device_id = t.device_id
                 and t.ts >= ti.installed_at and (ti.removed_at is null or t.ts <= ti.removed_at)
                 and ${machineInScope(viewer, 'ti.machine_id', params)})`;
  const { rows } = await db.query<FixRow>(
    `select t.ts, t.lat, t.lon, t.spd, t.ign from telemetry t
     where t.device_id = $1 and t.ts >= $2::timestamptz and t.ts <= $3::timestamptz and ${USABLE}
       and ${inScope}
     order by t.ts, t.seq`,
    params,
  );
  return rows.map(toFix);
}

export interface RecoveryCandidate {
  machineId: string;
  deviceId: string;
  contractId: string;
  contractNumber: string;
  stage: number;
  lat: number;
  lon: number;
  ts: string;
}

/** Machines of active contracts in the viewer's scope at `minStage` or above with a last known position. */
export async function recoveryCandidates(
  db: Sql,
  minStage: number,
  viewer: Viewer,
): Promise<RecoveryCandidate[]> {
  const params: unknown[] = [minStage];
  const inScope = contractInScope(viewer, 'c', params);
  const { rows } = await db.query<{
    machine_id: string;
    device_id: string;
    contract_id: string;
    number: string;
    stage: number;
    lat: number;
    lon: number;
    ts: Date;
  }>(
    `select c.machine_id, i.device_id, c.id as contract_id, c.number, c.stage, p.lat, p.lon, p.ts
     from contract c
     join installation i on i.machine_id = c.machine_id and i.removed_at is null
     join latest_position p on p.device_id = i.device_id
     where c.status = 'active' and c.stage >= $1 and ${inScope}`,
    params,
  );
  return rows.map((r) => ({
    machineId: r.machine_id,
    deviceId: r.device_id,
    contractId: r.contract_id,
    contractNumber: r.number,
    stage: r.stage,
    lat: r.lat,
    lon: r.lon,
    ts: new Date(r.ts).toISOString(),
  }));
}

export async function machineExists(db: Sql, id: string): Promise<boolean> {
  const { rows } = await db.query('select 1 from machine where id = $1', [id]);
  return rows.length > 0;
}

export interface MachineHealthRow {
  device_id: string;
  ts: Date;
  received_at: Date;
  online: boolean | null;
  ign: boolean | null;
  spd: number | null;
  hrs: number | null;
  pwr: number | null;
  bat: number | null;
  rssi: number | null;
  rly: boolean | null;
  alm: string[] | null;
}

/** The newest report of the devices installed on the machine now, with their broker status. */
export async function machineHealth(db: Sql, machineId: string): Promise<MachineHealthRow | undefined> {
  const { rows } = await db.query<MachineHealthRow>(
    `select lp.device_id, lp.ts, lp.received_at, ds.online, lp.ign, lp.spd, lp.hrs, lp.pwr, lp.bat,
            lp.rssi, lp.rly, lp.alm
     from installation i
     join latest_position lp on lp.device_id = i.device_id
     left join device_status ds on ds.device_id = i.device_id
     where i.machine_id = $1 and i.removed_at is null
     order by lp.ts desc limit 1`,
    [machineId],
  );
  return rows[0];
}

export interface MachineDayRow {
  day: string;
  engine_hours: number | null;
  distance_km: number;
  reports: number;
}

/**
 * telemetry_daily summed over the devices on the machine, from the local day `from` on (days in
 * the platform's time zone, as telemetry_daily buckets them). A day counts
 * for the machine while a device was installed on it that day.
 */
export async function machineDays(db: Sql, machineId: string, from: string): Promise<MachineDayRow[]> {
  const { rows } = await db.query<MachineDayRow>(
    `select to_char(d.day at time zone $3::text, 'YYYY-MM-DD') as day,
            sum(coalesce(d.engine_hours, 0))::float8 as engine_hours,
            sum(d.distance_km)::float8 as distance_km,
            sum(d.reports)::int as reports
     from installation i
     join telemetry_daily d on d.device_id = i.device_id
     where i.machine_id = $1
       and d.day >= ($2::date)::timestamp at time zone $3::text
       and d.day + interval '1 day' > i.installed_at
       and (i.removed_at is null or d.day < i.removed_at)
     group by 1 order by 1`,
    [machineId, from, PLATFORM_TIME_ZONE],
  );
  return rows;
}
