/**
 * What the location rules read and write per batch: device context (machine, contract, stage, known
 * addresses), rule state, open alerts and geofence presence in; alerts, state, presence and geofence
 * events out. Reads lock the rows they will update (for update), so two ingest workers handling
 * the same device serialise on it.
 */
import type { Sql } from '../../db/client.ts';
import type { AlertKind, RuleState } from '../../shared/alerts.ts';
import type { LatLon } from '../../shared/geo.ts';
import type { Fence } from './geofence-index.ts';

export interface GeofenceEvent {
  geofenceId: string;
  geofenceName: string;
  purpose: Fence['purpose'];
  deviceId: string;
  kind: 'enter' | 'exit';
  ts: string;
  lat: number;
  lon: number;
}

export interface DeviceContext {
  machineId: string | null;
  contractId: string | null;
  stage: number | null;
  addresses: LatLon[];
}

export interface Tracked {
  id: string | null;
  kind: AlertKind;
  raisedAt: number;
  lastSeenAt: number;
  absentSince: number | null;
  occurrences: number;
  clearedAt: number | null;
  lat: number | null;
  lon: number | null;
  detail: Record<string, unknown>;
  dirty: boolean;
  notable: boolean;
}

export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ms = (d: Date | string | null) => (d === null ? null : new Date(d).getTime());

export async function loadContexts(tx: Sql, ids: string[]): Promise<Map<string, DeviceContext>> {
  const { rows } = await tx.query<{
    device_id: string;
    machine_id: string | null;
    contract_id: string | null;
    stage: number | null;
    customer_id: string | null;
  }>(
    `select distinct on (u.id) u.id as device_id, i.machine_id, c.id as contract_id, c.stage, c.customer_id
     from unnest($1::text[]) as u(id)
     left join installation i on i.device_id = u.id and i.removed_at is null
     left join contract c on c.machine_id = i.machine_id and c.status = 'active'
     order by u.id, c.created_at desc`,
    [ids],
  );
  const customers = rows.map((r) => r.customer_id).filter((c): c is string => c !== null);
  const addresses = new Map<string, LatLon[]>();
  if (customers.length > 0) {
    const { rows: found } = await tx.query<{ customer_id: string; lat: number; lon: number }>(
      `select customer_id, lat, lon from customer_address
       where customer_id = any($1::text[]) and lat is not null and lon is not null and kind in ('job_site', 'home')`,
      [customers],
    );
    for (const a of found) addresses.set(a.customer_id, [...(addresses.get(a.customer_id) ?? []), a]);
  }
  return new Map(
    rows.map((r) => [
      r.device_id,
      {
        machineId: r.machine_id,
        contractId: r.contract_id,
        stage: r.stage,
        addresses:
          (r.customer_id ? addresses.get(r.customer_id) : undefined)?.map(({ lat, lon }) => ({ lat, lon })) ??
          [],
      },
    ]),
  );
}

export async function loadStates(tx: Sql, ids: string[]): Promise<Map<string, RuleState>> {
  const { rows } = await tx.query<{
    device_id: string;
    last_ts: Date;
    lat: number | null;
    lon: number | null;
    hours_mark: number | null;
    immobilized_since: Date | null;
  }>(
    `select device_id, last_ts, lat, lon, hours_mark, immobilized_since from device_rule_state
     where device_id = any($1::text[]) for update`,
    [ids],
  );
  return new Map(
    rows.map((r) => [
      r.device_id,
      {
        lastTs: ms(r.last_ts),
        last: r.lat !== null && r.lon !== null ? { lat: r.lat, lon: r.lon, ts: ms(r.last_ts)! } : null,
        hoursMark: r.hours_mark,
        immobilizedSince: ms(r.immobilized_since),
      },
    ]),
  );
}

export async function loadOpenAlerts(tx: Sql, ids: string[]): Promise<Map<string, Map<AlertKind, Tracked>>> {
  const { rows } = await tx.query<{
    id: string;
    kind: AlertKind;
    device_id: string;
    raised_at: Date;
    last_seen_at: Date;
    absent_since: Date | null;
    occurrences: number;
    lat: number | null;
    lon: number | null;
    detail: Record<string, unknown> | string;
  }>(
    `select id::text, kind, device_id, raised_at, last_seen_at, absent_since, occurrences, lat, lon, detail
     from alert where status = 'open' and device_id = any($1::text[]) for update`,
    [ids],
  );
  const out = new Map<string, Map<AlertKind, Tracked>>();
  for (const r of rows) {
    const m = out.get(r.device_id) ?? new Map<AlertKind, Tracked>();
    m.set(r.kind, {
      id: r.id,
      kind: r.kind,
      raisedAt: ms(r.raised_at)!,
      lastSeenAt: ms(r.last_seen_at)!,
      absentSince: ms(r.absent_since),
      occurrences: r.occurrences,
      clearedAt: null,
      lat: r.lat,
      lon: r.lon,
      detail: typeof r.detail === 'string' ? JSON.parse(r.detail) : r.detail,
      dirty: false,
      notable: false,
    });
    out.set(r.device_id, m);
  }
  return out;
}

export async function loadPresence(
  tx: Sql,
  ids: string[],
): Promise<Map<string, Map<string, { inside: boolean; since: number }>>> {
  const { rows } = await tx.query<{ device_id: string; geofence_id: string; inside: boolean; since: Date }>(
    `select device_id, geofence_id::text, inside, since from geofence_presence where device_id = any($1::text[])`,
    [ids],
  );
  const out = new Map<string, Map<string, { inside: boolean; since: number }>>();
  for (const r of rows) {
    const m = out.get(r.device_id) ?? new Map();
    m.set(r.geofence_id, { inside: r.inside, since: ms(r.since)! });
    out.set(r.device_id, m);
  }
  return out;
}

/** Writes the alerts that changed; returns the ids of those worth pushing live. */
export async function writeAlerts(tx: Sql, tracked: Tracked[]): Promise<string[]> {
  const notable: string[] = [];
  for (const a of tracked) {
    if (!a.dirty) continue;
    const owner = a as Tracked & DeviceContext & { deviceId: string };
    const status = a.clearedAt === null ? 'open' : 'cleared';
    if (a.id === null) {
      // Another worker may have opened the same kind for the device meanwhile: the partial unique
      // index turns that into an update of the one open alert.
      const { rows } = await tx.query<{ id: string }>(
        status === 'open'
          ? `insert into alert (kind, device_id, machine_id, contract_id, status, raised_at, last_seen_at,
                                absent_since, cleared_at, occurrences, lat, lon, detail)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             on conflict (kind, device_id) where status = 'open' do update set
               last_seen_at = greatest(alert.last_seen_at, excluded.last_seen_at), absent_since = null
             returning id::text`
          : `insert into alert (kind, device_id, machine_id, contract_id, status, raised_at, last_seen_at,
                                absent_since, cleared_at, occurrences, lat, lon, detail)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id::text`,
        [
          a.kind,
          owner.deviceId,
          owner.machineId,
          owner.contractId,
          status,
          iso(a.raisedAt),
          iso(a.lastSeenAt),
          iso(a.absentSince),
          iso(a.clearedAt),
          a.occurrences,
          a.lat,
          a.lon,
          JSON.stringify(a.detail),
        ],
      );
      a.id = rows[0]!.id;
    } else {
      await tx.query(
        `update alert set status = $2, last_seen_at = $3, absent_since = $4, cleared_at = $5, occurrences = $6,
                          lat = $7, lon = $8, detail = $9
         where id = $1`,
        [
          a.id,
          status,
          iso(a.lastSeenAt),
          iso(a.absentSince),
          iso(a.clearedAt),
          a.occurrences,
          a.lat,
          a.lon,
          JSON.stringify(a.detail),
        ],
      );
    }
    if (a.notable) notable.push(a.id);
  }
  return notable;
}

export async function writeStates(
  tx: Sql,
  writes: { deviceId: string; state: RuleState; receivedAt: number }[],
): Promise<void> {
  const w = writes.filter((x) => x.state.lastTs !== null);
  if (w.length === 0) return;
  await tx.query(
    `insert into device_rule_state (device_id, last_ts, last_received_at, lat, lon, hours_mark, immobilized_since)
     select * from unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::float8[], $5::float8[],
                          $6::float8[], $7::timestamptz[])
     on conflict (device_id) do update set
       last_ts = greatest(device_rule_state.last_ts, excluded.last_ts),
       last_received_at = greatest(device_rule_state.last_received_at, excluded.last_received_at),
       lat = excluded.lat, lon = excluded.lon, hours_mark = excluded.hours_mark,
       immobilized_since = excluded.immobilized_since`,
    [
      w.map((x) => x.deviceId),
      w.map((x) => iso(x.state.lastTs)),
      w.map((x) => iso(x.receivedAt)),
      w.map((x) => x.state.last?.lat ?? null),
      w.map((x) => x.state.last?.lon ?? null),
      w.map((x) => x.state.hoursMark),
      w.map((x) => iso(x.state.immobilizedSince)),
    ],
  );
}

export async function writePresence(
  tx: Sql,
  writes: { deviceId: string; fenceId: string; inside: boolean; since: number }[],
  events: GeofenceEvent[],
): Promise<void> {
  if (writes.length > 0) {
    // Several reports of one batch may move the same device across the same fence: keep the last.
    const last = new Map(writes.map((w) => [`${w.deviceId}\u0000${w.fenceId}`, w]));
    const w = [...last.values()];
    await tx.query(
      `insert into geofence_presence (device_id, geofence_id, inside, since)
       select * from unnest($1::text[], $2::bigint[], $3::bool[], $4::timestamptz[])
       on conflict (device_id, geofence_id) do update set inside = excluded.inside, since = excluded.since
       where geofence_presence.since < excluded.since`,
      [w.map((x) => x.deviceId), w.map((x) => x.fenceId), w.map((x) => x.inside), w.map((x) => iso(x.since))],
    );
  }
  if (events.length > 0) {
    await tx.query(
      `insert into geofence_event (geofence_id, device_id, kind, ts, lat, lon)
       select * from unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[], $6::float8[])`,
      [
        events.map((e) => e.geofenceId),
        events.map((e) => e.deviceId),
        events.map((e) => e.kind),
        events.map((e) => e.ts),
        events.map((e) => e.lat),
        events.map((e) => e.lon),
      ],
    );
  }
}
