/**
 * One simulated machine with its GPS box: samples the planned life into protocol-v1 reports on
 * the box's schedule (every 30 s while moving or working, every few minutes parked, plus one on
 * each ignition or motion change), applies the box's faults, and keeps a store-and-forward
 * backlog for coverage gaps. Pure and deterministic: time only moves when advance() is called.
 */
import type { Telemetry } from '../shared/protocol.ts';
import { Backlog, DEFAULT_BACKLOG_CHUNK } from './backlog.ts';
import type { Fault, FaultRates } from './faults.ts';
import type { LatLon } from './geo.ts';
import type { MachineHome, MachineIdentity } from './identity.ts';
import { type Leg, type LegState, legState } from './legs.ts';
import { type DayLog, LifePlanner, type Site } from './life.ts';
import { createRng, type Rng } from './rng.ts';
import type { TruthEvent } from './truth.ts';

export type LinkReason = 'coverage' | 'reboot' | 'power';

/** What the box does at simulated time `at`: publish telemetry, or lose / regain its connection. */
export type SimEvent =
  | { at: number; kind: 'telemetry'; payload: Telemetry | Telemetry[] }
  | { at: number; kind: 'link'; up: boolean; reason: LinkReason };

export interface MachineTruth {
  deviceId: string;
  machineId: string;
  city: string;
  province: string;
  yard: LatLon;
  sites: Site[];
  days: DayLog[];
  events: TruthEvent[];
}

export interface MachineOptions {
  seed: number;
  start: number;
  movingIntervalMs: number;
  backlogChunk?: number;
  faultRates?: FaultRates;
  storyDepartAt?: number;
}

const HOUR = 3_600_000;
const MAX_SEQ = 2 ** 31 - 1;
const round = (x: number, digits: number) => Math.round(x * 10 ** digits) / 10 ** digits;

export class SimMachine {
  private readonly planner: LifePlanner;
  private readonly noise: Rng;
  private readonly legs: Leg[] = [];
  private li = 0;
  private faults: Fault[] = [];
  private plannedUntil: number;
  private readonly days: DayLog[] = [];
  private readonly events: TruthEvent[] = [];
  /** Last instant processed; everything at or before it has been emitted. */
  private t: number;
  private nextReportAt: number;
  private clock: number;
  private ignMs = 0;
  private ignAt: number;
  private seq = 0;
  private linkUp = true;
  private downReason: LinkReason = 'coverage';
  private booting = false;
  private coldStart = false;
  private lastFix: LatLon | null = null;
  private heading: number;
  private lastPowerCut: Fault | null = null;
  private relay = false;
  /** Fraction of the first interval before the second report; null once used. */
  private phase: number | null;
  private ended = false;
  private readonly backlog = new Backlog();

  constructor(
    readonly identity: MachineIdentity,
    readonly home: MachineHome,
    private readonly options: MachineOptions,
  ) {
    const start = Math.ceil(options.start / 1000) * 1000;
    this.planner = new LifePlanner(
      {
        seed: options.seed,
        index: identity.index,
        type: identity.type,
        behaviour: home.behaviour,
        city: home.city,
        yard: home.yard,
        sites: home.sites,
        faultRates: options.faultRates,
        storyDepartAt: options.storyDepartAt,
      },
      start,
    );
    this.plannedUntil = Number.NEGATIVE_INFINITY;
    this.noise = createRng(options.seed, identity.index, 'noise');
    this.heading = this.noise.int(0, 359);
    this.phase = this.noise.range(0.05, 1);
    this.t = start - 1;
    this.clock = start - 1;
    this.nextReportAt = start;
    this.ignAt = start;
  }

  /** Simulated time up to which events have been produced. */
  get now(): number {
    return this.clock;
  }

  /** Engine hours now, the machine's own hour meter (read over CAN, so box outages do not lose any). */
  get engineHours(): number {
    return this.home.engineHoursAtStart + this.ignMs / HOUR;
  }

  /** Whether this box will ever report again (false after the story machine goes dark). */
  get alive(): boolean {
    return !this.ended;
  }

  /**
   * Hook for the command handler (a later issue): the relay state the box reports as `rly`.
   * The starter interrupt itself is not modelled yet; the machine keeps its planned life.
   */
  setRelay(on: boolean): void {
    this.relay = on;
  }

  /** Moves simulated time to `to` and returns what the box does in (now, to], in time order. */
  advance(to: number): SimEvent[] {
    const out: SimEvent[] = [];
    while (!this.ended) {
      this.ensurePlanned(Math.min(this.nextReportAt, to));
      const limit = Math.min(this.nextReportAt, to);
      const at = Math.min(this.nextReportAt, this.nextBreakpoint(this.t, limit));
      if (at > to) break;
      this.process(at, out);
      this.t = at;
    }
    if (to > this.clock) this.clock = to;
    return out;
  }

  /** Ground truth so far: home, the days as lived, and the events that have begun. */
  truth(): MachineTruth {
    return {
      deviceId: this.identity.deviceId,
      machineId: this.identity.machineId,
      city: this.identity.city,
      province: this.identity.province,
      yard: this.home.yard,
      sites: this.home.sites,
      days: this.days.filter((d) => d.date <= new Date(this.clock + 8 * HOUR).toISOString().slice(0, 10)),
      events: this.events.filter((e) => e.from <= this.clock),
    };
  }

  private ensurePlanned(t: number): void {
    while (this.plannedUntil <= t) {
      const plan = this.planner.next();
      this.legs.push(...plan.legs);
      this.faults.push(...plan.faults);
      this.events.push(...plan.events);
      this.days.push(plan.log);
      this.plannedUntil = this.legs[this.legs.length - 1]!.to;
    }
  }

  /** The first instant in (after, limit] where the box reports on its own: a change of state. */
  private nextBreakpoint(after: number, limit: number): number {
    let best = Number.POSITIVE_INFINITY;
    for (let j = Math.max(1, this.li); j < this.legs.length; j++) {
      const leg = this.legs[j]!;
      if (leg.from > limit) break;
      const prev = this.legs[j - 1]!;
      if (leg.from > after && (leg.ign !== prev.ign || (leg.path === null) !== (prev.path === null))) {
        best = leg.from;
        break;
      }
    }
    for (const f of this.faults) {
      if (f.kind === 'gpsLoss') continue;
      for (const edge of [f.from, f.darkAt, f.to]) {
        if (edge !== undefined && edge > after && edge <= limit && edge < best) best = edge;
      }
    }
    return best;
  }

  /** Moves the leg pointer to `t`, adding ignition-on time to the hour meter on the way. */
  private moveTo(t: number): Leg {
    for (;;) {
      const leg = this.legs[this.li]!;
      const end = Math.min(leg.to, t);
      if (leg.ign && end > this.ignAt) this.ignMs += end - this.ignAt;
      if (end > this.ignAt) this.ignAt = end;
      if (leg.to > t) break;
      this.li++;
    }
    if (this.li > 256) {
      this.legs.splice(0, this.li - 1);
      this.li = 1;
    }
    return this.legs[this.li]!;
  }

  private process(t: number, out: SimEvent[]): void {
    const st = legState(this.moveTo(t), t);
    this.faults = this.faults.filter((f) => f.to > t);
    const active = (kind: Fault['kind']) => this.faults.find((f) => f.kind === kind && f.from <= t);
    const cut = active('powerCut');
    if (cut) this.lastPowerCut = cut;
    const rebooting = active('reboot') !== undefined;
    const dark = cut !== undefined && t >= (cut.darkAt ?? cut.from);
    const off = rebooting || dark;
    const noCoverage = active('coverageGap') !== undefined;

    if (this.linkUp && (off || noCoverage)) {
      this.linkUp = false;
      this.downReason = rebooting ? 'reboot' : dark ? 'power' : 'coverage';
      out.push({ at: t, kind: 'link', up: false, reason: this.downReason });
    }
    if (off) {
      this.booting = true;
      const until = rebooting ? active('reboot')!.to : cut!.to;
      this.nextReportAt = until;
      if (until === Number.POSITIVE_INFINITY) this.ended = true;
      return;
    }
    if (this.booting) {
      // A restarted box has lost its RAM: counting starts again and the GPS needs a cold fix.
      this.booting = false;
      this.seq = 0;
      this.coldStart = true;
    }
    if (!this.linkUp && !noCoverage) {
      this.linkUp = true;
      out.push({ at: t, kind: 'link', up: true, reason: this.downReason });
    }

    const report = this.report(
      t,
      st,
      active('gpsLoss') !== undefined,
      active('antennaCut') !== undefined,
      cut,
    );
    if (this.linkUp) {
      out.push({ at: t, kind: 'telemetry', payload: report });
      if (this.backlog.size > 0) {
        for (const chunk of this.backlog.drain(this.options.backlogChunk ?? DEFAULT_BACKLOG_CHUNK)) {
          out.push({ at: t, kind: 'telemetry', payload: chunk });
        }
      }
    } else {
      this.backlog.push(report);
    }
    const interval = st.ign || st.moving ? this.options.movingIntervalMs : this.home.parkedIntervalMs;
    // Boxes' timers are not in step: after the power-on report each one keeps its own phase,
    // so a fleet started at once does not report in one burst every 30 s.
    const phase = this.phase === null ? 1 : this.phase;
    this.phase = null;
    this.nextReportAt = t + Math.max(1000, Math.round((interval * phase) / 1000) * 1000);
  }

  private report(
    t: number,
    st: LegState,
    gpsLoss: boolean,
    antennaCut: boolean,
    cut: Fault | undefined,
  ): Telemetry {
    const n = this.noise;
    const fix = !gpsLoss && !antennaCut && !this.coldStart;
    const r: Telemetry = { v: 1, seq: this.seq, ts: t, lat: 0, lon: 0 };
    this.seq = this.seq >= MAX_SEQ ? 0 : this.seq + 1;
    if (fix) {
      // A few metres of GPS scatter, so a parked machine's dots cluster like real ones.
      const dLat = (n.normal() * 2.5) / 111_320;
      const dLon = (n.normal() * 2.5) / (111_320 * Math.cos((st.pos.lat * Math.PI) / 180));
      r.lat = round(st.pos.lat + dLat, 6);
      r.lon = round(st.pos.lon + dLon, 6);
      r.alt = round(this.home.city.alt + n.normal() * 1.5, 1);
      r.spd = st.moving ? round(Math.max(0, st.speedKmh + n.normal() * 1.2), 1) : 0;
      if (st.heading !== null) this.heading = (Math.round(st.heading + n.normal() * 2) + 360) % 360;
      r.hdg = this.heading;
      r.sat = n.int(7, 16);
      r.fix = true;
      this.lastFix = st.pos;
    } else {
      // Without a fix the box repeats its last known position; after a cold start it has none.
      if (this.lastFix && !this.coldStart) {
        r.lat = round(this.lastFix.lat, 6);
        r.lon = round(this.lastFix.lon, 6);
      }
      r.sat = n.int(0, 3);
      r.fix = false;
    }
    this.coldStart = false;
    r.ign = st.ign;
    r.hrs = round(this.engineHours, 2);

    const alarms: string[] = [];
    const onBattery = cut !== undefined;
    r.pwr = onBattery ? 0 : round((st.ign ? 27.6 : 24.9) + n.float() * 0.8, 1);
    r.bat = this.batteryPercent(t, cut);
    if (onBattery) alarms.push('powerCut');
    if (antennaCut) alarms.push('antennaCut');
    if (onBattery && r.bat < 30) alarms.push('lowBattery');
    r.rssi = Math.max(-113, Math.min(-51, this.home.rssiBase + Math.round(n.normal() * 3)));
    r.rly = this.relay;
    if (alarms.length > 0) r.alm = alarms;
    return r;
  }

  /** The backup battery drains to 20 % on a power cut (when the box shuts down) and recharges after. */
  private batteryPercent(t: number, cut: Fault | undefined): number {
    if (cut) {
      const span = Math.max(1, (cut.darkAt ?? cut.from) - cut.from);
      return Math.max(20, Math.round(100 - (80 * (t - cut.from)) / span));
    }
    const last = this.lastPowerCut;
    if (last && last.to !== Number.POSITIVE_INFINITY && t >= last.to) {
      return Math.min(100, Math.round(20 + (30 * (t - last.to)) / HOUR));
    }
    return 100;
  }
}
