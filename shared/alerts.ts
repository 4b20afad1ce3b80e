/**
 * The alert rules, pure: from a device's reports (device-time order), what it was doing and where,
 * to which alert conditions are present or absent on each report. Ingest (ingest/rules/evaluate.ts) feeds
 * them from every batch and keeps one open alert per kind and device; the silence rule runs on a
 * clock instead (api/alerts/silence.ts).
 */
import { distanceM, type LatLon } from './geo.ts';

export const ALERT_KINDS = [
  'power_cut',
  'antenna_cut',
  'tamper',
  'silent',
  'moving_ignition_off',
  'left_region',
  'far_from_sites',
  'engine_hours_overdue',
  'immobilized_moving',
  'decision_due',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const ALERT_LABELS: Record<AlertKind, string> = {
  power_cut: 'Main power cut',
  antenna_cut: 'GPS antenna cut',
  tamper: 'Box tampered with',
  silent: 'Device silent',
  moving_ignition_off: 'Moving with ignition off (on a trailer?)',
  left_region: 'Left its allowed region',
  far_from_sites: 'Stage-3 machine far from its known sites',
  engine_hours_overdue: 'Engine hours rising on an overdue account',
  immobilized_moving: 'Immobilized machine moving or started',
  decision_due: 'GPS stop engaged for weeks: decide to repossess, litigate or release',
};

export interface AlertRules {
  /** A machine counts as moving at this reported speed or more (km/h). */
  movingKmh: number;
  /** Without a reported speed: this far from the previous fix, at movingKmh or more. */
  movingMinM: number;
  /** far_from_sites: a stage-3 machine further than this from every known site (metres). */
  farFromSitesM: number;
  /** engine_hours_overdue: engine hours gained since the account reached stage 2. */
  engineHoursRise: number;
  /** How long a condition must be gone before its alert clears (device time, ms). */
  clearAfterMs: Record<AlertKind, number>;
  /** silent: hours without any report, by the account's stage (0-3); index 4 with no contract. */
  silentHoursByStage: readonly [number, number, number, number, number];
}

const MIN = 60_000;
export const DEFAULT_ALERT_RULES: AlertRules = {
  movingKmh: 10,
  movingMinM: 200,
  farFromSitesM: 30_000,
  engineHoursRise: 1,
  clearAfterMs: {
    power_cut: 10 * MIN,
    antenna_cut: 10 * MIN,
    tamper: 10 * MIN,
    silent: 0,
    // A trailer stops at lights and rest stops: the alert stays open through a stop.
    moving_ignition_off: 60 * MIN,
    left_region: 10 * MIN,
    far_from_sites: 10 * MIN,
    engine_hours_overdue: 0,
    immobilized_moving: 10 * MIN,
    // Cleared by the release that ends the stop, not by the absence of a report.
    decision_due: 0,
  },
  silentHoursByStage: [24, 24, 12, 6, 24],
};

/** One report as the rules see it. */
export interface RuleReport {
  ts: number;
  lat: number;
  lon: number;
  /** A usable fix (shared/protocol hasUsableFix). */
  usable: boolean;
  spd?: number | undefined;
  ign?: boolean | undefined;
  hrs?: number | undefined;
  pwr?: number | undefined;
  rly?: boolean | undefined;
  alm?: readonly string[] | undefined;
}

/** What the rules remember between reports (ingest/rules/evaluate.ts stores it in device_rule_state). */
export interface RuleState {
  lastTs: number | null;
  /** Last usable fix, for speed implied by displacement. */
  last: (LatLon & { ts: number }) | null;
  hoursMark: number | null;
  immobilizedSince: number | null;
}

export interface RuleContext {
  /** The account's overdue stage, null when the machine has no active contract. */
  stage: number | null;
  /** Known sites of the machine (addresses, yard and job-site geofences); far_from_sites needs one. */
  knownSites: readonly LatLon[];
  /** Whether any allowed-region geofence applies to this device. */
  hasAllowedRegion: boolean;
  /** Whether the report is inside one of the allowed regions that apply. */
  insideAllowed(report: LatLon): boolean;
}

/** Present (true), absent (false) or not decidable from this report (absent from the map). */
export type Observation = Partial<Record<AlertKind, boolean>>;

export interface RuleStep {
  state: RuleState;
  observed: Observation;
  /** Figures worth keeping with an alert raised on this report. */
  detail: Partial<Record<AlertKind, Record<string, unknown>>>;
}

export const emptyRuleState = (): RuleState => ({
  lastTs: null,
  last: null,
  hoursMark: null,
  immobilizedSince: null,
});

/**
 * Whether the machine moves on this report: its speed, or (boxes that send none) the distance and
 * speed implied by the previous fix.
 */
export function isMoving(r: RuleReport, prev: RuleState['last'], rules: AlertRules): boolean {
  if (!r.usable) return false;
  if (r.spd !== undefined) return r.spd >= rules.movingKmh;
  if (!prev || r.ts <= prev.ts) return false;
  const m = distanceM(prev, r);
  const kmh = m / 1000 / ((r.ts - prev.ts) / 3_600_000);
  return m >= rules.movingMinM && kmh >= rules.movingKmh;
}

/**
 * One report through the rules. A report older than the newest one seen (a backlog after a
 * coverage gap) can only show a condition present — it says nothing about now — and leaves the
 * state alone.
 */
export function observe(
  state: RuleState,
  r: RuleReport,
  ctx: RuleContext,
  rules: AlertRules = DEFAULT_ALERT_RULES,
): RuleStep {
  const late = state.lastTs !== null && r.ts <= state.lastTs;
  const observed: Observation = {};
  const detail: RuleStep['detail'] = {};
  const alarms = r.alm ?? [];

  observed.power_cut = alarms.includes('powerCut') || r.pwr === 0;
  if (observed.power_cut) detail.power_cut = { pwr: r.pwr ?? null, alarms };
  observed.antenna_cut = alarms.includes('antennaCut');
  observed.tamper = alarms.includes('tamper');
  observed.silent = false;

  const moving = isMoving(r, late ? null : state.last, rules);
  if (r.usable) {
    if (r.ign !== undefined) {
      observed.moving_ignition_off = moving && r.ign === false;
      if (observed.moving_ignition_off) detail.moving_ignition_off = { spd: r.spd ?? null };
    }
    // No allowed region (any more) or no stage-3 account with known sites: the condition is absent,
    // which also clears an alert whose geofence was deleted or whose account was cured.
    observed.left_region = ctx.hasAllowedRegion && !ctx.insideAllowed(r);
    observed.far_from_sites = false;
    if (ctx.stage === 3 && ctx.knownSites.length > 0) {
      const nearest = Math.min(...ctx.knownSites.map((s) => distanceM(s, r)));
      observed.far_from_sites = nearest > rules.farFromSitesM;
      if (observed.far_from_sites) detail.far_from_sites = { nearestSiteKm: Math.round(nearest / 100) / 10 };
    }
  }

  let hoursMark = state.hoursMark;
  if (ctx.stage === null || ctx.stage < 2) {
    hoursMark = null;
    observed.engine_hours_overdue = false;
  } else if (r.hrs !== undefined) {
    if (hoursMark === null || r.hrs < hoursMark) hoursMark = r.hrs;
    const gained = r.hrs - hoursMark;
    observed.engine_hours_overdue = gained >= rules.engineHoursRise;
    if (observed.engine_hours_overdue)
      detail.engine_hours_overdue = { hoursGained: Math.round(gained * 100) / 100, stage: ctx.stage };
  }

  // The relay holds the machine once it stands with the ignition off; only then do ignition or
  // movement mean someone got round it (arming it on a working machine is not an alarm).
  let immobilizedSince = state.immobilizedSince;
  if (r.rly !== undefined) {
    if (r.rly === false) {
      immobilizedSince = null;
      observed.immobilized_moving = false;
    } else {
      const running = r.ign === true || moving;
      observed.immobilized_moving = immobilizedSince !== null && running;
      if (observed.immobilized_moving) detail.immobilized_moving = { ign: r.ign ?? null, spd: r.spd ?? null };
      if (immobilizedSince === null && r.ign === false && !moving) immobilizedSince = r.ts;
    }
  }

  if (late) {
    // Only presence counts from the past; absence there says nothing about now.
    for (const k of Object.keys(observed) as AlertKind[]) if (observed[k] === false) delete observed[k];
    return { state, observed, detail };
  }
  return {
    state: {
      lastTs: r.ts,
      last: r.usable ? { lat: r.lat, lon: r.lon, ts: r.ts } : state.last,
      hoursMark,
      immobilizedSince,
    },
    observed,
    detail,
  };
}

/** An alert as the hysteresis sees it. */
export interface OpenAlert {
  raisedAt: number;
  lastSeenAt: number;
  absentSince: number | null;
  occurrences: number;
}

export type AlertTransition =
  | { action: 'raise' }
  | { action: 'seen'; reappeared: boolean }
  | { action: 'absent' }
  | { action: 'clear' }
  | { action: 'none' };

/**
 * What one observation does to the open alert of its kind: raise one, note it seen again (a
 * reappearance within the hysteresis window counts an occurrence, no new alert), start the
 * absence clock, or clear it once the condition has been gone `clearAfterMs`.
 */
export function transition(
  open: OpenAlert | null,
  present: boolean,
  ts: number,
  clearAfterMs: number,
): AlertTransition {
  if (present) {
    if (!open) return { action: 'raise' };
    return { action: 'seen', reappeared: open.absentSince !== null };
  }
  if (!open || ts < open.lastSeenAt) return { action: 'none' };
  const since = open.absentSince ?? ts;
  if (ts - since >= clearAfterMs) return { action: 'clear' };
  return open.absentSince === null ? { action: 'absent' } : { action: 'none' };
}

/** Hours of silence after which a device's silent alert is raised. */
export function silentAfterHours(stage: number | null, rules: AlertRules = DEFAULT_ALERT_RULES): number {
  return rules.silentHoursByStage[stage === null ? 4 : Math.max(0, Math.min(3, stage))]!;
}

/** An alert as the api lists it and pushes it live. */
export interface AlertView {
  id: string;
  kind: AlertKind;
  label: string;
  deviceId: string;
  machineId: string | null;
  contractId: string | null;
  status: 'open' | 'cleared';
  raisedAt: string;
  lastSeenAt: string;
  clearedAt: string | null;
  occurrences: number;
  lat: number | null;
  lon: number | null;
  detail: Record<string, unknown>;
  acknowledgedAt: string | null;
  acknowledgedBy: string | null;
  acknowledgedNote: string | null;
}
