/**
 * The location rules in ingest's batch path: every report of a committed-to-be batch goes through
 * the geofences (enter/exit) and the alert rules (shared/alerts.ts), in the batch's own transaction.
 * Same transaction, not after the commit: the telemetry, the alerts it raises and the rule state
 * commit together or not at all, so a process dying between the two cannot lose an alert — the
 * broker redelivers the unacknowledged batch and it is evaluated again. The cost is a few indexed
 * reads per batch (not per report) and writes only where something changed.
 */

import { alertsById } from '../../db/alerts.ts';
import type { Sql } from '../../db/client.ts';
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
} from '../../shared/alerts.ts';
import { hasUsableFix, type Telemetry } from '../../shared/protocol.ts';
import { type Fence, GeofenceCache, type GeofenceIndex } from './geofence-index.ts';
import {
  type GeofenceEvent,
  loadContexts,
  loadOpenAlerts,
  loadPresence,
  loadStates,
  type Tracked,
  writeAlerts,
  writePresence,
  writeStates,
} from './store.ts';

export interface ReportRow {
  deviceId: string;
  receivedAt: number;
  report: Telemetry;
}

export type { GeofenceEvent } from './store.ts';

export interface LocationOutcome {
  /** Alerts raised, reappearing or cleared by this batch (for the live feed). */
  alerts: AlertView[];
  geofenceEvents: GeofenceEvent[];
}

export interface LocationRules {
  evaluate(tx: Sql, rows: readonly ReportRow[]): Promise<LocationOutcome>;
}

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
      // One after another: a transaction is one connection, and node-postgres will not queue.
      const contexts = await loadContexts(tx, ids);
      const states = await loadStates(tx, ids);
      const open = await loadOpenAlerts(tx, ids);
      const presence = await loadPresence(tx, ids);

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
