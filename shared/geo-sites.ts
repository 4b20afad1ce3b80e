/**
 * "Where to look": a machine's trail turned into stays (it stood within a few hundred metres for a
 * while), the stays clustered into sites (DBSCAN, turf's clustersDbscan), each site labelled and
 * profiled by hour of day, and one best place to look at a given moment. Pure: the trail comes in,
 * the answer goes out; the api reads the trail (api/geo/sites.ts).
 */
import { clustersDbscan, featureCollection, point } from '@turf/turf';
import { bearingDeg, distanceM, type LatLon } from './geo.ts';

export interface TrailFix extends LatLon {
  /** Device time, epoch ms. */
  ts: number;
  spd: number | null;
  ign: boolean | null;
}

export interface Stay extends LatLon {
  from: number;
  to: number;
  fixes: number;
}

export type SiteLabel = 'night_parking' | 'day_work_site' | 'last_seen';

export interface MachineSite extends LatLon {
  rank: number;
  labels: SiteLabel[];
  visits: number;
  dwellHours: number;
  /** Share of the dwell time in each local hour of day (0-23), summing to 1. */
  hourProfile: number[];
  firstVisit: string;
  lastVisit: string;
  /** How sure we are that this is a real recurring place of the machine, 0-1. */
  confidence: number;
}

export interface PlaceToLook extends LatLon {
  reason: 'live' | 'usual_site_for_this_hour' | 'last_seen_away' | 'last_seen';
  confidence: number;
  /** Index into the sites, when the place is one of them. */
  siteRank: number | null;
  note: string;
}

export interface SitesAnswer {
  sites: MachineSite[];
  bestNow: PlaceToLook | null;
  lastFix: (LatLon & { ts: string; moving: boolean }) | null;
  /** Where it was heading when last seen moving (bearing, speed), for a box that went dark on the road. */
  heading: { bearingDeg: number; speedKmh: number } | null;
  dark: boolean;
}

export interface SiteOptions {
  /** A stay: fixes within this many metres of where it started. */
  stayRadiusM: number;
  /** …for at least this long. */
  minDwellMs: number;
  /** Stays closer than this (metres) form one site. */
  clusterM: number;
  /** A last fix older than this means the box went dark (or lost its fix). */
  freshMs: number;
  /** Local time offset (China: +480 minutes, no daylight saving). */
  utcOffsetMinutes: number;
}

export const DEFAULT_SITE_OPTIONS: SiteOptions = {
  stayRadiusM: 300,
  minDwellMs: 20 * 60_000,
  clusterM: 300,
  freshMs: 2 * 3_600_000,
  utcOffsetMinutes: 480,
};

const HOUR = 3_600_000;

/** Runs of fixes within stayRadiusM of the run's first fix lasting minDwellMs or more. */
export function findStays(trail: readonly TrailFix[], o: SiteOptions = DEFAULT_SITE_OPTIONS): Stay[] {
  const stays: Stay[] = [];
  let i = 0;
  while (i < trail.length) {
    const anchor = trail[i]!;
    let j = i + 1;
    let lat = anchor.lat;
    let lon = anchor.lon;
    while (j < trail.length && distanceM(anchor, trail[j]!) <= o.stayRadiusM) {
      lat += trail[j]!.lat;
      lon += trail[j]!.lon;
      j++;
    }
    const last = trail[j - 1]!;
    // A stay ends at the first fix elsewhere: the time until that fix was spent here too (parked
    // boxes report every few minutes, and a coverage gap at a site is still time at the site).
    const end = j < trail.length ? Math.min(trail[j]!.ts, last.ts + 6 * HOUR) : last.ts;
    if (end - anchor.ts >= o.minDwellMs) {
      const n = j - i;
      stays.push({ lat: lat / n, lon: lon / n, from: anchor.ts, to: end, fixes: n });
    }
    i = j;
  }
  return stays;
}

const localHour = (ms: number, o: SiteOptions) =>
  Math.floor(((ms + o.utcOffsetMinutes * 60_000) % (24 * HOUR)) / HOUR + 24) % 24;

/** Minutes of a stay falling in each local hour of day. */
function hourMinutes(stay: Stay, o: SiteOptions): number[] {
  const bins = new Array<number>(24).fill(0);
  let t = stay.from;
  while (t < stay.to) {
    const next = Math.min(stay.to, (Math.floor(t / HOUR) + 1) * HOUR);
    bins[localHour(t, o)]! += (next - t) / 60_000;
    t = next;
  }
  return bins;
}

const NIGHT = (h: number) => h >= 20 || h < 6;
const DAY = (h: number) => h >= 7 && h < 18;

export function clusterSites(
  stays: readonly Stay[],
  lastFix: TrailFix | null,
  o: SiteOptions = DEFAULT_SITE_OPTIONS,
): MachineSite[] {
  if (stays.length === 0) return [];
  const clustered = clustersDbscan(
    featureCollection(stays.map((s, i) => point([s.lon, s.lat], { i }))),
    o.clusterM / 1000,
    { units: 'kilometers', minPoints: 1 },
  );
  const groups = new Map<number, Stay[]>();
  for (const f of clustered.features) {
    const id = f.properties.cluster ?? -1 - (f.properties.i as number);
    groups.set(id, [...(groups.get(id) ?? []), stays[f.properties.i as number]!]);
  }
  const totalDwell = stays.reduce((sum, s) => sum + (s.to - s.from), 0);
  const sites = [...groups.values()].map((g) => {
    const dwell = g.reduce((sum, s) => sum + (s.to - s.from), 0);
    const hours = new Array<number>(24).fill(0);
    for (const s of g) {
      hourMinutes(s, o).forEach((m, h) => {
        hours[h]! += m;
      });
    }
    const minutes = hours.reduce((a, b) => a + b, 0) || 1;
    const weight = (s: Stay) => s.to - s.from || 1;
    const w = g.reduce((sum, s) => sum + weight(s), 0);
    const days = new Set(g.map((s) => Math.floor((s.from + o.utcOffsetMinutes * 60_000) / (24 * HOUR)))).size;
    return {
      lat: g.reduce((sum, s) => sum + s.lat * weight(s), 0) / w,
      lon: g.reduce((sum, s) => sum + s.lon * weight(s), 0) / w,
      rank: 0,
      labels: [] as SiteLabel[],
      visits: g.length,
      dwellHours: Math.round((dwell / HOUR) * 10) / 10,
      hourProfile: hours.map((m) => Math.round((m / minutes) * 1000) / 1000),
      firstVisit: new Date(Math.min(...g.map((s) => s.from))).toISOString(),
      lastVisit: new Date(Math.max(...g.map((s) => s.to))).toISOString(),
      // Recurring (visited on many days) and a large share of the machine's time: a real place.
      confidence:
        Math.round(Math.min(1, 0.5 * Math.min(1, days / 7) + (0.5 * dwell) / (totalDwell || 1)) * 100) / 100,
      nightShare: hours.filter((_, h) => NIGHT(h)).reduce((a, b) => a + b, 0) / minutes,
      dayShare: hours.filter((_, h) => DAY(h)).reduce((a, b) => a + b, 0) / minutes,
      dwell,
    };
  });
  sites.sort((a, b) => b.dwell - a.dwell);
  const night = sites
    .filter((s) => s.nightShare >= 0.5)
    .sort((a, b) => b.dwell * b.nightShare - a.dwell * a.nightShare)[0];
  if (night) night.labels.push('night_parking');
  for (const s of sites) if (s.dayShare >= 0.5 && s.confidence >= 0.2) s.labels.push('day_work_site');
  if (lastFix) {
    const near = sites.find((s) => distanceM(s, lastFix) <= o.clusterM);
    near?.labels.push('last_seen');
  }
  return sites.map(({ nightShare: _n, dayShare: _d, dwell: _w, ...s }, i) => ({ ...s, rank: i + 1 }));
}

/**
 * The place to look at `at`. A live box (a fresh fix) is where it says. A dark one: the site where
 * it usually stands at this hour — unless it was last seen standing somewhere that is none of its
 * usual places (a job far away), where it most likely still is.
 */
export function placeToLook(
  sites: readonly MachineSite[],
  lastFix: TrailFix | null,
  at: number,
  o: SiteOptions = DEFAULT_SITE_OPTIONS,
): PlaceToLook | null {
  if (!lastFix) return null;
  if (at - lastFix.ts <= o.freshMs) {
    return {
      lat: lastFix.lat,
      lon: lastFix.lon,
      reason: 'live',
      confidence: 0.95,
      siteRank: null,
      note: 'the box reports a fresh position',
    };
  }
  const hour = localHour(at, o);
  const around = [hour, (hour + 23) % 24, (hour + 1) % 24];
  // How much of the site's time falls around this hour, and that weighted by how real the site is.
  const hourFit = (s: MachineSite) =>
    around.reduce((sum, h, k) => sum + (k === 0 ? 1 : 0.5) * s.hourProfile[h]!, 0);
  const score = (s: MachineSite) => hourFit(s) * s.confidence;
  const lastSite = sites.find((s) => s.labels.includes('last_seen')) ?? null;
  const moving = (lastFix.spd ?? 0) >= 10;
  if (!moving && (!lastSite || lastSite.confidence < 0.3) && at - lastFix.ts < 3 * 24 * HOUR) {
    return {
      lat: lastFix.lat,
      lon: lastFix.lon,
      reason: 'last_seen_away',
      confidence: 0.6,
      siteRank: lastSite?.rank ?? null,
      note: 'last seen standing away from its usual places',
    };
  }
  let best = [...sites].sort((a, b) => score(b) - score(a))[0];
  // Where it was last seen, if it also stands there at this hour (a camp on a job far away, the
  // yard it was parked in): recency beats a long history elsewhere.
  if (best && lastSite && hourFit(lastSite) >= 0.5 * hourFit(best)) best = lastSite;
  if (!best || score(best) === 0) {
    return {
      lat: lastFix.lat,
      lon: lastFix.lon,
      reason: 'last_seen',
      confidence: 0.3,
      siteRank: null,
      note: 'no usual place for this hour',
    };
  }
  const total = sites.reduce((sum, s) => sum + score(s), 0);
  return {
    lat: best.lat,
    lon: best.lon,
    reason: 'usual_site_for_this_hour',
    confidence: Math.round((score(best) / total) * best.confidence * 100) / 100,
    siteRank: best.rank,
    note: moving
      ? 'went dark on the move: its usual place for this hour (see heading for where it was going)'
      : 'the box is dark: its usual place for this hour',
  };
}

export function analyseTrail(
  trail: readonly TrailFix[],
  at: number,
  o: SiteOptions = DEFAULT_SITE_OPTIONS,
): SitesAnswer {
  const lastFix = trail.length > 0 ? trail[trail.length - 1]! : null;
  const sites = clusterSites(findStays(trail, o), lastFix, o);
  const dark = lastFix === null || at - lastFix.ts > o.freshMs;
  let heading: SitesAnswer['heading'] = null;
  if (lastFix && (lastFix.spd ?? 0) >= 10 && trail.length >= 2) {
    // Over the last few minutes of the trail, not the last pair of fixes (GPS scatter).
    const back = trail.findLast((f) => f.ts <= lastFix.ts - 5 * 60_000) ?? trail[0]!;
    heading = { bearingDeg: Math.round(bearingDeg(back, lastFix)), speedKmh: Math.round(lastFix.spd ?? 0) };
  }
  return {
    sites,
    bestNow: placeToLook(sites, lastFix, at, o),
    lastFix: lastFix
      ? {
          lat: lastFix.lat,
          lon: lastFix.lon,
          ts: new Date(lastFix.ts).toISOString(),
          moving: (lastFix.spd ?? 0) >= 10,
        }
      : null,
    heading,
    dark,
  };
}
