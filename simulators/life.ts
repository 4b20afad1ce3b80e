/**
 * A machine's working life, planned one local day (China Standard Time, UTC+8) at a time: which
 * days it works and where, rain and idle days, trailer transports to a job far away and back,
 * and the faults of its GPS box. Pure: the same profile and seed give the same plan, and day N is
 * planned from its own random stream so it does not depend on how the reports were sampled.
 */
import type { MachineType, TypeBehaviour } from './catalog.ts';
import { DEFAULT_FAULT_RATES, type Fault, type FaultRates, planFaults } from './faults.ts';
import { distanceM, type LatLon, type Path, reversePath, roadPath, scatter } from './geo.ts';
import { type Leg, LegBuilder } from './legs.ts';
import { CITIES, type City } from './places.ts';
import { createRng, type Rng } from './rng.ts';
import { planStory } from './story.ts';
import type { TruthEvent } from './truth.ts';

export const CST_OFFSET_MS = 8 * 3_600_000;
export const DAY_MS = 86_400_000;
const MIN = 60_000;
const HOUR = 60 * MIN;

export const localDayOf = (t: number) => Math.floor((t + CST_OFFSET_MS) / DAY_MS);
export const dayStartOf = (day: number) => day * DAY_MS - CST_OFFSET_MS;
export const localDateOf = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);

export interface Site {
  name: string;
  center: LatLon;
  radiusM: number;
}

export type DayKind = 'work' | 'rain' | 'idle' | 'transport' | 'story' | 'hidden';

export interface DayLog {
  /** Local (CST) calendar date. */
  date: string;
  kind: DayKind;
  /** Where the machine stood at local midnight starting this day: its yard, or its camp when away. */
  dawnAt: LatLon;
  site?: string;
}

export interface LifeProfile {
  seed: number;
  index: number;
  type: MachineType;
  behaviour: TypeBehaviour;
  city: City;
  yard: LatLon;
  sites: Site[];
  faultRates?: FaultRates;
  /** Set for the one scripted story machine. */
  storyDepartAt?: number;
}

export interface DayPlan {
  legs: Leg[];
  faults: Fault[];
  events: TruthEvent[];
  log: DayLog;
}

interface Away {
  site: Site;
  camp: LatLon;
  returnDay: number;
}

export class LifePlanner {
  private day: number;
  private cursor: number;
  private pos: LatLon;
  private siteIndex = 0;
  private away: Away | null = null;
  private lastTransportDay = Number.NEGATIVE_INFINITY;
  private offlineUntil = Number.NEGATIVE_INFINITY;
  private hidden = false;
  private readonly commutes: Path[];
  private readonly rates: FaultRates;

  constructor(
    private readonly profile: LifeProfile,
    start: number,
  ) {
    // Plan whole days from the local midnight before start, so a fleet started at 14:00 is
    // found at its job sites, not all at home.
    this.day = localDayOf(start);
    this.cursor = dayStartOf(this.day);
    this.pos = profile.yard;
    this.rates = profile.faultRates ?? DEFAULT_FAULT_RATES;
    // The road to each site is the same every day, as it would be.
    this.commutes = profile.sites.map((s, i) =>
      roadPath(createRng(profile.seed, profile.index, 'road', i), [profile.yard, s.center], 1500),
    );
  }

  /** The next day's plan; its legs continue exactly where the previous day's ended. */
  next(): DayPlan {
    const d = this.day++;
    const dayEnd = dayStartOf(d + 1);
    const rng = createRng(this.profile.seed, this.profile.index, 'day', d);
    const b = new LegBuilder(this.cursor, this.pos);
    const events: TruthEvent[] = [];
    const log: DayLog = { date: localDateOf(d), kind: 'idle', dawnAt: this.pos };
    let faults: Fault[] = [];

    const departAt = this.profile.storyDepartAt;
    if (this.hidden) {
      log.kind = 'hidden';
    } else if (departAt !== undefined && localDayOf(departAt) === d) {
      log.kind = 'story';
      const story = planStory(b, rng, departAt);
      faults = story.faults;
      events.push(...story.events);
      this.hidden = true;
    } else {
      if (this.away) this.awayDay(b, rng, d, log, events);
      else this.yardDay(b, rng, d, log, events);
      const planned = planFaults(
        createRng(this.profile.seed, this.profile.index, 'faults', d),
        dayStartOf(d),
        this.offlineUntil,
        this.rates,
      );
      faults = planned.faults;
      this.offlineUntil = planned.offlineUntil;
      if (this.profile.storyDepartAt !== undefined) faults = faults.filter((f) => f.kind !== 'powerCut');
      for (const f of faults) events.push({ kind: f.kind, from: f.from, to: f.to, note: faultNote(f) });
    }
    b.stay(this.hidden ? Number.POSITIVE_INFINITY : dayEnd, false, 'parked');
    this.cursor = b.t;
    this.pos = b.pos;
    return { legs: b.legs, faults, events, log };
  }

  private yardDay(b: LegBuilder, rng: Rng, d: number, log: DayLog, events: TruthEvent[]): void {
    const start = dayStartOf(d);
    const date = new Date(start + CST_OFFSET_MS);
    const sunday = date.getUTCDay() === 0;
    const wet = date.getUTCMonth() >= 4 && date.getUTCMonth() <= 8 ? 0.14 : 0.07;
    const roll = rng.float();
    const canTravel = this.profile.storyDepartAt === undefined && d - this.lastTransportDay > 10;
    if (canTravel && roll < 0.04) {
      this.transportOut(b, rng, d, log, events);
      return;
    }
    if (roll < 0.04 + wet) log.kind = 'rain';
    else if (roll < 0.04 + wet + (sunday ? 0.45 : 0.12)) log.kind = 'idle';
    else log.kind = 'work';

    if (log.kind === 'idle') {
      if (rng.chance(0.3))
        b.stay(start + rng.range(8, 15) * HOUR, false, 'parked').stayFor(
          rng.range(8, 25) * MIN,
          true,
          'warmup',
        );
      return;
    }
    if (this.profile.sites.length > 1 && rng.chance(0.2))
      this.siteIndex = rng.int(0, this.profile.sites.length - 1);
    const site = this.profile.sites[this.siteIndex]!;
    log.site = site.name;
    this.workAt(b, rng, start, site, this.commutes[this.siteIndex]!, log.kind === 'rain');
  }

  private awayDay(b: LegBuilder, rng: Rng, d: number, log: DayLog, events: TruthEvent[]): void {
    const away = this.away!;
    const start = dayStartOf(d);
    if (d >= away.returnDay) {
      this.trailer(
        b,
        rng,
        start,
        [away.camp, this.profile.yard],
        events,
        `back to the yard from ${away.site.name}`,
      );
      log.kind = 'transport';
      this.away = null;
      this.lastTransportDay = d;
      return;
    }
    const roll = rng.float();
    log.kind = roll < 0.1 ? 'rain' : roll < 0.2 ? 'idle' : 'work';
    if (log.kind === 'idle') return;
    log.site = away.site.name;
    this.workAt(
      b,
      rng,
      start,
      away.site,
      roadPath(rng, [away.camp, away.site.center], 1000),
      log.kind === 'rain',
    );
  }

  /** Commute out, work with a lunch break (ignition on 6-10 h in all), commute back. */
  private workAt(b: LegBuilder, rng: Rng, dayStart: number, site: Site, road: Path, rain: boolean): void {
    const beh = this.profile.behaviour;
    const kmh = rng.range(beh.commuteKmh[0], beh.commuteKmh[1]);
    const commuteMs = (road.lengthM / (kmh / 3.6)) * 1000;
    const workMs = rain
      ? rng.range(1, 2.5) * HOUR
      : Math.max(2.5 * HOUR, rng.range(6, 10) * HOUR - 2 * commuteMs);
    b.stay(Math.max(b.t + 5 * MIN, dayStart + rng.range(6.5, 7.5) * HOUR), false, 'parked');
    b.travel(road, kmh, true, 'commute');
    const lunchAt = dayStart + rng.range(11.5, 12.25) * HOUR;
    const workStart = b.t;
    const work = (until: number) => b.workUntil(rng, site.center, site.radiusM, beh.siteKmh, until);
    if (rain || workStart + workMs <= lunchAt) {
      work(workStart + workMs);
    } else {
      work(lunchAt);
      const left = workMs - (b.t - workStart);
      b.stayFor(rng.range(45, 80) * MIN, false, 'break');
      work(b.t + left);
    }
    b.moveTo(site.center, beh.siteKmh[1], true, 'work');
    b.travel(reversePath(road), kmh, true, 'commute');
  }

  /** A job far away: on a trailer to a site near another city, living at a camp there for days. */
  private transportOut(b: LegBuilder, rng: Rng, d: number, log: DayLog, events: TruthEvent[]): void {
    const here = this.profile.city;
    const candidates = CITIES.filter((c) => {
      const km = distanceM(c, here) / 1000;
      return km >= 30 && km <= 300;
    });
    const target = candidates.length > 0 ? rng.pick(candidates) : here;
    const center = scatter(rng, target, 2000, 15000);
    const site: Site = { name: `${target.name} job`, center, radiusM: this.profile.behaviour.siteRadiusM };
    const camp = scatter(rng, center, 100, 250);
    this.trailer(b, rng, dayStartOf(d), [this.profile.yard, camp], events, `to a job near ${target.name}`);
    this.away = { site, camp, returnDay: d + rng.int(3, 8) };
    this.lastTransportDay = d;
    log.kind = 'transport';
    log.site = site.name;
  }

  /** Drive onto the lowboy, chain down, ride with the ignition OFF at 40-70 km/h, unload. */
  private trailer(
    b: LegBuilder,
    rng: Rng,
    dayStart: number,
    route: LatLon[],
    events: TruthEvent[],
    why: string,
  ): void {
    b.stay(Math.max(b.t + 5 * MIN, dayStart + rng.range(7, 9) * HOUR), false, 'parked');
    const from = b.t;
    const origin = b.pos;
    b.stayFor(rng.range(3, 8) * MIN, true, 'ramp').stayFor(rng.range(5, 15) * MIN, false, 'strap');
    b.rideTrailer(rng, roadPath(rng, route, 4000));
    b.stayFor(rng.range(5, 10) * MIN, false, 'strap').stayFor(rng.range(3, 8) * MIN, true, 'ramp');
    events.push({
      kind: 'transport',
      from,
      to: b.t,
      note: `trailer ${why} (ignition off while moving)`,
      at: origin,
    });
  }
}

function faultNote(f: Fault): string {
  switch (f.kind) {
    case 'gpsLoss':
      return 'GPS fix lost (fix=false), last position repeated';
    case 'coverageGap':
      return 'no mobile coverage: reports buffered, uploaded as a backlog array when back';
    case 'reboot':
      return 'box rebooted: offline briefly, seq restarts at 0, first report without a fix at 0,0';
    case 'powerCut':
      return 'main power cut: powerCut alarm on backup battery, then dark until power returns (reboot, seq 0)';
    case 'antennaCut':
      return 'GPS antenna cut: antennaCut alarm, no fix until repaired';
  }
}
