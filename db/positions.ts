/**
 * latest_position: one row per device, only ever moved forward in device time, and only to a usable
 * fix (`fix` not false, not 0,0). Ingest moves it, in its batch transaction; the api reads it (the
 * map, recovery, a machine's health, when a device was last heard of).
 */
import type { PositionUpdate } from '../shared/live.ts';
import { hasUsableFix, type Telemetry } from '../shared/protocol.ts';
import type { Sql } from './client.ts';

/** A report as ingest received it. */
export interface TelemetryRow {
  deviceId: string;
  receivedAt: number;
  report: Telemetry;
}

const iso = (ms: number) => new Date(ms).toISOString();
const col = <K extends keyof Telemetry>(rows: TelemetryRow[], k: K) => rows.map((r) => r.report[k] ?? null);

function newestFixPerDevice(rows: TelemetryRow[]): TelemetryRow[] {
  const newest = new Map<string, TelemetryRow>();
  for (const row of rows) {
    if (!hasUsableFix(row.report)) continue;
    const seen = newest.get(row.deviceId);
    if (!seen || row.report.ts > seen.report.ts) newest.set(row.deviceId, row);
  }
  return [...newest.values()];
}

/**
 * Moves each device's latest position forward to the newest usable fix among these reports, where
 * it is newer in device time than the stored one; returns the positions that advanced.
 */
export async function advanceLatestPositions(tx: Sql, reports: TelemetryRow[]): Promise<PositionUpdate[]> {
  const rows = newestFixPerDevice(reports);
  if (rows.length === 0) return [];
  const { rows: advanced } = await tx.query<{
    device_id: string;
    ts: Date;
    lat: number;
    lon: number;
    spd: number | null;
    ign: boolean | null;
    hrs: number | null;
    rly: boolean | null;
  }>(
    `insert into latest_position (device_id, ts, received_at, lat, lon, spd, hdg, ign, hrs, pwr, bat, rssi, rly, alm)
     select d, t, r, la, lo, sp, hd, ig, hr, pw, ba, rs, rl, string_to_array(am, ',')
     from unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[], $6::real[],
                 $7::real[], $8::bool[], $9::float8[], $10::real[], $11::real[], $12::smallint[], $13::bool[],
                 $14::text[]) as u(d, t, r, la, lo, sp, hd, ig, hr, pw, ba, rs, rl, am)
     on conflict (device_id) do update set
       ts = excluded.ts, received_at = excluded.received_at, lat = excluded.lat, lon = excluded.lon,
       spd = excluded.spd, hdg = excluded.hdg, ign = excluded.ign, hrs = excluded.hrs, pwr = excluded.pwr,
       bat = excluded.bat, rssi = excluded.rssi, rly = excluded.rly, alm = excluded.alm
     where latest_position.ts < excluded.ts
     returning device_id, ts, lat, lon, spd, ign, hrs, rly`,
    [
      rows.map((r) => r.deviceId),
      rows.map((r) => iso(r.report.ts)),
      rows.map((r) => iso(r.receivedAt)),
      col(rows, 'lat'),
      col(rows, 'lon'),
      col(rows, 'spd'),
      col(rows, 'hdg'),
      col(rows, 'ign'),
      col(rows, 'hrs'),
      col(rows, 'pwr'),
      col(rows, 'bat'),
      rows.map((r) => (r.report.rssi === undefined ? null : Math.round(r.report.rssi))),
      col(rows, 'rly'),
      rows.map((r) => (r.report.alm && r.report.alm.length > 0 ? r.report.alm.join(',') : null)),
    ],
  );
  return advanced.map((a) => ({
    deviceId: a.device_id,
    ts: new Date(a.ts).toISOString(),
    lat: a.lat,
    lon: a.lon,
    spd: a.spd,
    ign: a.ign,
    hrs: a.hrs,
    rly: a.rly,
  }));
}

/** When the device was last heard of: its newest report received, or its coming online, if later. */
export async function lastHeardAt(sql: Sql, deviceId: string): Promise<Date | null> {
  const { rows } = await sql.query<{ at: Date | null }>(
    `select greatest((select received_at from latest_position where device_id = $1),
                     (select changed_at from device_status where device_id = $1 and online)) as at`,
    [deviceId],
  );
  return rows[0]?.at ?? null;
}
