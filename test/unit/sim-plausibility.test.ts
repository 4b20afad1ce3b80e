/**
 * A simulated week must look like real machines: no teleports, no supersonic excavators, hour
 * meters that only run with the engine, nights at the yard, trailers with the ignition off.
 */
import { describe, expect, it } from 'vitest';
import { hasUsableFix, type Telemetry } from '../../shared/protocol.ts';
import { createFleet, type SimMachine } from '../../simulators/fleet.ts';
import { distanceM } from '../../simulators/geo.ts';
import { localDateOf, localDayOf } from '../../simulators/life.ts';
import { byDeviceTime, reportsOf, runMachine } from '../../simulators/trace.ts';

const START = Date.UTC(2026, 4, 31, 16, 0, 0); // local midnight, 1 June 2026 China time
const WEEK = 7 * 86_400_000;
const HOUR = 3_600_000;

const fleet = createFleet({ devices: 40, seed: 2026, start: START, story: false });
const weeks = new Map<SimMachine, Telemetry[]>(
  fleet.map((m) => [m, byDeviceTime(reportsOf(runMachine(m, START + WEEK)))]),
);
const localHour = (ts: number) => new Date(ts + 8 * HOUR).getUTCHours();

describe('a simulated week of 40 machines', () => {
  it('never moves faster than a truck on a trailer, and never teleports', () => {
    const worst: string[] = [];
    for (const [m, reports] of weeks) {
      let prev: Telemetry | undefined;
      for (const r of reports) {
        if ((r.spd ?? 0) > 75) worst.push(`${m.identity.deviceId} spd ${r.spd} at ${r.ts}`);
        if (!hasUsableFix(r)) continue;
        if (prev) {
          const hours = (r.ts - prev.ts) / HOUR;
          // 20 m for GPS scatter at both ends.
          if (distanceM(prev, r) > 75_000 * hours + 20)
            worst.push(`${m.identity.deviceId} ${prev.ts}→${r.ts}`);
        }
        prev = r;
      }
    }
    expect(worst).toEqual([]);
  });

  it('engine hours only rise, and only while the ignition is on', () => {
    const wrong: string[] = [];
    for (const [m, reports] of weeks) {
      for (let i = 1; i < reports.length; i++) {
        const prev = reports[i - 1]!;
        const cur = reports[i]!;
        const dh = cur.hrs! - prev.hrs!;
        const elapsed = (cur.ts - prev.ts) / HOUR;
        const where = `${m.identity.deviceId} seq ${prev.seq}→${cur.seq}: ${dh} h in ${elapsed} h`;
        if (dh < -1e-9 || dh > elapsed + 0.011) wrong.push(where);
        // Every ignition change is reported at once, so two reports in a row (same boot) say it all.
        if (cur.seq !== prev.seq! + 1) continue;
        if (prev.ign ? Math.abs(dh - elapsed) > 0.011 : dh > 0.011) wrong.push(`${where}, ign ${prev.ign}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('works 6-10 hours on a full working day', () => {
    const worked: number[] = [];
    for (const [m, reports] of weeks) {
      const days = new Map(m.truth().days.map((d) => [d.date, d]));
      const hrsByDate = new Map<string, number[]>();
      for (const r of reports) {
        const date = localDateOf(localDayOf(r.ts));
        const list = hrsByDate.get(date) ?? [];
        list.push(r.hrs!);
        hrsByDate.set(date, list);
      }
      for (const [date, hrs] of hrsByDate) {
        if (days.get(date)?.kind === 'work') worked.push(Math.max(...hrs) - Math.min(...hrs));
      }
    }
    expect(worked.length).toBeGreaterThan(100);
    worked.sort((a, b) => a - b);
    expect(worked[Math.floor(worked.length * 0.05)]).toBeGreaterThan(5.5);
    expect(worked[worked.length - 1]).toBeLessThan(11);
  });

  it('spends the night at the yard (or at the camp of a job far away)', () => {
    let checked = 0;
    let atYard = 0;
    const away: string[] = [];
    for (const [m, reports] of weeks) {
      const days = new Map(m.truth().days.map((d) => [d.date, d]));
      for (const r of reports) {
        if (localHour(r.ts) >= 5 || !hasUsableFix(r)) continue;
        const day = days.get(localDateOf(localDayOf(r.ts)))!;
        if (distanceM(r, day.dawnAt) > 30 || r.ign) away.push(`${m.identity.deviceId} at ${r.ts}`);
        checked++;
        if (distanceM(r, m.home.yard) < 30) atYard++;
      }
    }
    expect(away).toEqual([]);
    expect(checked).toBeGreaterThan(40 * 7 * 5 * 5);
    expect(atYard / checked).toBeGreaterThan(0.8);
  });

  it('works at its job sites by day', () => {
    let working = 0;
    let onSite = 0;
    for (const [m, reports] of weeks) {
      for (const r of reports) {
        if (!r.ign || (r.spd ?? 0) > 0 || !hasUsableFix(r)) continue;
        working++;
        const nearest = Math.min(...m.home.sites.map((s) => distanceM(r, s.center) - s.radiusM));
        if (nearest < 30) onSite++;
      }
    }
    expect(onSite / working).toBeGreaterThan(0.7);
  });

  it('travels on trailers with the ignition off at 40-70 km/h, tens to hundreds of km', () => {
    let trips = 0;
    for (const [m, reports] of weeks) {
      for (const e of m.truth().events.filter((x) => x.kind === 'transport')) {
        const during = reports.filter((r) => r.ts >= e.from && r.ts <= e.to! && hasUsableFix(r));
        const rolling = during.filter((r) => (r.spd ?? 0) > 5);
        if (rolling.length === 0) continue; // the box was off the network the whole way
        trips++;
        expect(rolling.every((r) => r.ign === false)).toBe(true);
        const speeds = rolling.map((r) => r.spd!);
        expect(Math.min(...speeds)).toBeGreaterThan(35);
        const km = distanceM(during[0]!, during[during.length - 1]!) / 1000;
        expect(km).toBeGreaterThan(20);
        expect(km).toBeLessThan(400);
      }
    }
    expect(trips).toBeGreaterThan(3);
  });

  it('has idle and rain days, GPS losses and the odd reboot', () => {
    const kinds = new Map<string, number>();
    for (const m of fleet) {
      for (const d of m.truth().days) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
      for (const e of m.truth().events) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    }
    for (const kind of ['work', 'idle', 'rain', 'transport', 'gpsLoss', 'coverageGap', 'reboot']) {
      expect(kinds.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
    const noFix = [...weeks.values()].flat().filter((r) => r.fix === false);
    expect(noFix.length).toBeGreaterThan(0);
  });
});
