/**
 * The location rules in ingest's batch path: every report of a committed-to-be batch goes through
 * the geofences (enter/exit) and the alert rules (shared/alerts.ts), in the batch's own transaction.
 * Same transaction, not after the commit: the telemetry, the alerts it raises and the rule state
 * commit together or not at all, so a process dying between the two cannot lose an alert — the
 * broker redelivers the unacknowledged batch and it is evaluated again. The cost is a few indexed
 * reads per batch (not per report) and writes only where something changed.
 */
import type { Sql } from '../db/client.ts';
import {
  type AlertKind,
  type AlertRules,
  type AlertView,
  DEFAULT_ALERT_RULES,
  emptyRuleState,
  observe,
  type RuleContext,
  type RuleReport,
  type RuleState,
  transition,
} from '../shared/alerts.ts';
import type { LatLon } from '../shared/geo.ts';
import { hasUsableFix, type Telemetry } from '../shared/protocol.ts';
import { type Fence, GeofenceCache, type GeofenceIndex } from './geofence-index.ts';
import { alertsById } from './views.ts';

export interface ReportRow {
  deviceId: string;
  receivedAt: number;
  report: Telemetry;
}

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

export interface LocationOutcome {
  /** Alerts raised, reappearing or cleared by this batch (for the live feed). */
  alerts: AlertView[];
  geofenceEvents: GeofenceEvent[];
}

export interface LocationRules {
  evaluate(tx: Sql, rows: readonly ReportRow[]): Promise<LocationOutcome>;
}

interface DeviceContext {
  machineId: string | null;
  contractId: string | null;
  stage: number | null;
  addresses: LatLon[];
}

interface Tracked {
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

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ms = (d: Date | string | null) => (d === null ? null : new Date(d).getTime());

export function createLocationRules(rules: AlertRules = DEFAULT_ALERT_RULES): LocationRules {
  const fences = new GeofenceCache();
  return {
    async evaluate(tx, rows) {
      if (rows.length === 0) return { alerts: [], geofenceEvents: [] };
      const byDevice = new Map<string, ReportRow[]>();
      for (const r of rows) {
        const list = byDevice.get(r.deviceId);
        if (list) list.push(r);
        else byDevice.set(r.deviceId, [r]);
      }
      const ids = [...byDevice.keys()];
      const index = await fences.current(tx);
      const [contexts, states, open, presence] = await Promise.all([
        loadContexts(tx, ids),
        loadStates(tx, ids),
        loadOpenAlerts(tx, ids),
        loadPresence(tx, ids),
      ]);

      const events: GeofenceEvent[] = [];
      const presenceWrites: { deviceId: string; fenceId: string; inside: boolean; since: number }[] = [];
      const stateWrites: { deviceId: string; state: RuleState; receivedAt: number }[] = [];
      const tracked: Tracked[] = [];

      for (const [deviceId, list] of byDevice) {
        list.sort((a, b) => a.report.ts - b.report.ts || (a.report.seq ?? 0) - (b.report.seq ?? 0));
        const dc = contexts.get(deviceId) ?? {
          machineId: null,
          contractId: null,
          stage: null,
          addresses: [],
        };
        const applicable = index.applicable(dc.contractId);
        const ctx: RuleContext = {
          stage: dc.stage,
          knownSites: [
            ...dc.addresses,
            ...applicable
              .filter((f) => f.purpose === 'yard' || f.purpose === 'job_site')
              .map((f) => f.anchor),
          ],
          hasAllowedRegion: applicable.some((f) => f.purpose === 'allowed_region'),
          insideAllowed: (p) =>
            index.containing(p, dc.contractId).some((f) => f.purpose === 'allowed_region'),
        };
        const openHere = open.get(deviceId) ?? new Map<AlertKind, Tracked>();
        const inside = presence.get(deviceId) ?? new Map<string, { inside: boolean; since: number }>();
        let state = states.get(deviceId) ?? emptyRuleState();
        let newestReceived = 0;
        const mine: Tracked[] = [];

        for (const row of list) {
          const t = row.report;
          const rr: RuleReport = { ...t, usable: hasUsableFix(t) };
          const late = state.lastTs !== null && t.ts <= state.lastTs;
          const step = observe(state, rr, ctx, rules);
          state = step.state;
          newestReceived = Math.max(newestReceived, row.receivedAt);
          if (!late && rr.usable) {
            trackFences(index, applicable, dc.contractId, deviceId, rr, inside, events, presenceWrites);
          }
          for (const [kind, present] of Object.entries(step.observed) as [AlertKind, boolean][]) {
            const current = openHere.get(kind) ?? null;
            const move = transition(current, present, t.ts, rules.clearAfterMs[kind]);
            const where = rr.usable ? { lat: t.lat, lon: t.lon } : { lat: null, lon: null };
            if (move.action === 'raise') {
              const a: Tracked = {
                id: null,
                kind,
                raisedAt: t.ts,
                lastSeenAt: t.ts,
                absentSince: null,
                occurrences: 1,
                clearedAt: null,
                ...where,
                detail: step.detail[kind] ?? {},
                dirty: true,
                notable: true,
              };
              openHere.set(kind, a);
              mine.push(a);
            } else if (current && move.action === 'seen') {
              current.lastSeenAt = Math.max(current.lastSeenAt, t.ts);
              current.absentSince = null;
              if (rr.usable) Object.assign(current, where);
              if (step.detail[kind]) current.detail = step.detail[kind];
              // Back within the hysteresis window: one more occurrence of the same alert, not news.
              if (move.reappeared) current.occurrences++;
              current.dirty = true;
            } else if (current && move.action === 'absent') {
              current.absentSince = t.ts;
              current.dirty = true;
            } else if (current && move.action === 'clear') {
              current.clearedAt = t.ts;
              current.dirty = true;
              current.notable = true;
              if (!mine.includes(current)) mine.push(current);
              openHere.delete(kind);
            }
          }
        }
        for (const a of openHere.values()) if (!mine.includes(a)) mine.push(a);
        stateWrites.push({ deviceId, state, receivedAt: newestReceived });
        for (const a of mine) tracked.push(Object.assign(a, { deviceId, ...dc }));
      }

      const notable = await writeAlerts(tx, tracked);
      await writeStates(tx, stateWrites);
      await writePresence(tx, presenceWrites, events);
      return { alerts: await alertsById(tx, notable), geofenceEvents: events };
    },
  };
}

function trackFences(
  index: GeofenceIndex,
  applicable: readonly Fence[],
  contractId: string | null,
  deviceId: string,
  r: RuleReport,
  presence: Map<string, { inside: boolean; since: number }>,
  events: GeofenceEvent[],
  writes: { deviceId: string; fenceId: string; inside: boolean; since: number }[],
): void {
  if (applicable.length === 0) return;
  const inside = new Set(index.containing(r, contractId).map((f) => f.id));
  for (const f of applicable) {
    const now = inside.has(f.id);
    const before = presence.get(f.id);
    if (before && (before.inside === now || r.ts <= before.since)) continue;
    // First sighting: only being inside is an event (entering a fence drawn around the machine).
    if (before || now) {
      events.push({
        geofenceId: f.id,
        geofenceName: f.name,
        purpose: f.purpose,
        deviceId,
        kind: now ? 'enter' : 'exit',
        ts: new Date(r.ts).toISOString(),
        lat: r.lat,
        lon: r.lon,
      });
    }
    presence.set(f.id, { inside: now, since: r.ts });
    writes.push({ deviceId, fenceId: f.id, inside: now, since: r.ts });
  }
}

async function loadContexts(tx: Sql, ids: string[]): Promise<Map<string, DeviceContext>> {
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

async function loadStates(tx: Sql, ids: string[]): Promise<Map<string, RuleState>> {
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

async function loadOpenAlerts(tx: Sql, ids: string[]): Promise<Map<string, Map<AlertKind, Tracked>>> {
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

async function loadPresence(
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
async function writeAlerts(tx: Sql, tracked: Tracked[]): Promise<string[]> {
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

async function writeStates(
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

async function writePresence(
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
