/** Sites from a known synthetic trail: two weeks of nights in a yard and days on a job site. */
import { describe, expect, it } from 'vitest';
import { distanceM } from '../../shared/geo.ts';
import { analyseTrail, findStays, type TrailFix } from '../../shared/geo-sites.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const YARD = { lat: 34.2618, lon: 117.1859 };
const SITE = { lat: 34.3518, lon: 117.1859 }; // 10 km north
/** 2026-06-01 00:00 China time. */
const DAY0 = Date.UTC(2026, 4, 31, 16, 0, 0);
const local = (day: number, h: number) => DAY0 + day * 24 * HOUR + h * HOUR;

function jitter(p: { lat: number; lon: number }, i: number, metres: number) {
  return {
    lat: p.lat + (Math.sin(i * 1.7) * metres) / 111_320,
    lon: p.lon + (Math.cos(i * 2.3) * metres) / 92_000,
  };
}

/** Parked every 10 min from 17:30 to 07:00, driving at 07:00 and 17:00 (30 min), working in between. */
function trail(days: number): TrailFix[] {
  const out: TrailFix[] = [];
  let i = 0;
  const fix = (ts: number, p: { lat: number; lon: number }, spd: number, ign: boolean) =>
    out.push({ ts, ...jitter(p, i++, spd > 5 ? 0 : 3), spd, ign });
  for (let d = 0; d < days; d++) {
    for (let t = local(d, 0); t < local(d, 7); t += 10 * MIN) fix(t, YARD, 0, false);
    for (let k = 0; k < 60; k++) {
      const f = k / 60;
      fix(local(d, 7) + k * 30_000, { lat: YARD.lat + f * (SITE.lat - YARD.lat), lon: YARD.lon }, 20, true);
    }
    for (let t = local(d, 7.5); t < local(d, 17); t += 2 * MIN) fix(t, jitter(SITE, i, 60), 2, true);
    for (let k = 0; k < 60; k++) {
      const f = k / 60;
      fix(local(d, 17) + k * 30_000, { lat: SITE.lat - f * (SITE.lat - YARD.lat), lon: YARD.lon }, 20, true);
    }
    for (let t = local(d, 17.5); t < local(d + 1, 0); t += 10 * MIN) fix(t, YARD, 0, false);
  }
  return out;
}

describe('sites', () => {
  const fixes = trail(14);

  it('finds one stay per night and per working day', () => {
    const stays = findStays(fixes);
    const atYard = stays.filter((s) => distanceM(s, YARD) < 100);
    const atSite = stays.filter((s) => distanceM(s, SITE) < 200);
    expect(atSite).toHaveLength(14);
    // Evening and the following night are one stay: 13 overnight stays plus the first morning and the last evening.
    expect(atYard).toHaveLength(15);
    expect(stays).toHaveLength(29);
  });

  it('clusters the stays into the yard (night parking) and the job site (day work site), ranked by time spent', () => {
    const at = local(14, 0) - MIN; // just before midnight, the box still live
    const { sites, bestNow, dark } = analyseTrail(fixes, at);
    expect(sites).toHaveLength(2);
    const [yard, site] = sites;
    expect(distanceM(yard!, YARD)).toBeLessThan(30);
    expect(distanceM(site!, SITE)).toBeLessThan(60);
    expect(yard!.labels).toEqual(['night_parking', 'last_seen']);
    expect(site!.labels).toEqual(['day_work_site']);
    expect(yard!.visits).toBe(15);
    expect(site!.visits).toBe(14);
    expect(yard!.hourProfile.slice(8, 17).every((share) => share === 0)).toBe(true);
    expect(site!.hourProfile[2]).toBe(0);
    expect(site!.hourProfile[12]).toBeGreaterThan(0.05);
    expect(yard!.confidence).toBeGreaterThan(0.7);
    expect(yard!.confidence).toBeGreaterThan(site!.confidence);
    expect(dark).toBe(false);
    expect(bestNow?.reason).toBe('live');
  });

  it('a box that went dark at noon on the site: look in the yard at night, on the site by day', () => {
    const cut = fixes.filter((f) => f.ts <= local(13, 12));
    const night = analyseTrail(cut, local(13, 23)).bestNow!;
    expect(night.reason).toBe('usual_site_for_this_hour');
    expect(distanceM(night, YARD)).toBeLessThan(30);
    const nextNoon = analyseTrail(cut, local(14, 11)).bestNow!;
    expect(distanceM(nextNoon, SITE)).toBeLessThan(60);
  });

  it('a box that went dark on the road reports where it was heading', () => {
    const cut = fixes.filter((f) => f.ts <= local(13, 7.25));
    const answer = analyseTrail(cut, local(13, 23));
    expect(answer.dark).toBe(true);
    expect(answer.lastFix?.moving).toBe(true);
    expect(answer.heading?.bearingDeg).toBe(0);
    expect(distanceM(answer.bestNow!, YARD)).toBeLessThan(30);
  });

  it('a box last seen standing somewhere new is looked for there', () => {
    const camp = { lat: 34.9, lon: 116.5 };
    const away = [
      ...fixes,
      ...Array.from({ length: 20 }, (_, k) => ({
        ts: local(14, 2) + k * 10 * MIN,
        ...camp,
        spd: 0,
        ign: false,
      })),
    ];
    const answer = analyseTrail(away, local(15, 1));
    expect(answer.bestNow?.reason).toBe('last_seen_away');
    expect(distanceM(answer.bestNow!, camp)).toBeLessThan(10);
  });
});
