/** The box's bad days: coverage gaps with late backlogs, reboots, tamper, and the scripted story. */
import { describe, expect, it } from 'vitest';
import { hasUsableFix, type Telemetry } from '../../shared/protocol.ts';
import { Backlog } from '../../simulators/backlog.ts';
import { createFleet, type SimEvent, STORY_DEVICE_ID } from '../../simulators/fleet.ts';
import { STORY_ROUTE } from '../../simulators/places.ts';
import { byDeviceTime, reportsOf, runMachine } from '../../simulators/trace.ts';

const START = Date.UTC(2026, 5, 1, 2, 0, 0);
const DAY = 86_400_000;
const report = (seq: number, ts: number): Telemetry => ({ v: 1, seq, ts, lat: 31, lon: 121 });

describe('backlog buffer', () => {
  it('uploads newest first, arrays in reverse time order, within size limits', () => {
    const b = new Backlog();
    for (let i = 0; i < 250; i++) b.push(report(i, START + i * 30_000));
    const messages = b.drain(100);
    expect(messages.map((m) => m.length)).toEqual([100, 100, 50]);
    expect(messages[0]![0]!.seq).toBe(249);
    expect(messages.flat().map((r) => r.seq)).toEqual([...Array(250).keys()].reverse());
    expect(b.size).toBe(0);
    b.push(report(0, START));
    expect(b.drain(100, 10)).toHaveLength(1);
  });

  it('keeps to the byte limit and drops the oldest when full', () => {
    const b = new Backlog(10);
    for (let i = 0; i < 15; i++) b.push(report(i, START + i));
    expect(b.dropped).toBe(5);
    const messages = b.drain(1000, 200);
    for (const m of messages) expect(JSON.stringify(m).length).toBeLessThanOrEqual(200);
    expect(messages.flat().map((r) => r.seq)).toEqual([14, 13, 12, 11, 10, 9, 8, 7, 6, 5]);
  });
});

describe('coverage gaps and reboots in the model', () => {
  const fleet = createFleet({
    devices: 10,
    seed: 11,
    start: START,
    story: false,
    faults: { coverageGap: 0.5, reboot: 0.2, powerCut: 0.05, antennaCut: 0.05 },
  });
  const traces = fleet.map((m) => ({ m, events: runMachine(m, START + 7 * DAY) }));

  it('uploads the gap as out-of-order arrays right after the link comes back', () => {
    let arrays = 0;
    for (const { events } of traces) {
      events.forEach((e, i) => {
        if (e.kind !== 'telemetry' || !Array.isArray(e.payload)) return;
        arrays++;
        const ts = e.payload.map((r) => r.ts);
        expect(ts).toEqual([...ts].sort((a, b) => b - a)); // newest first: out of time order
        const live = events.slice(0, i).findLast((x) => x.kind !== 'telemetry' || !Array.isArray(x.payload));
        // The live report goes first, then the backlog, all stamped after the device times inside.
        expect(live).toMatchObject({ kind: 'telemetry', at: e.at });
        expect(Math.max(...ts)).toBeLessThan(e.at);
      });
    }
    expect(arrays).toBeGreaterThan(5);
  });

  it('loses nothing in a gap: seq runs on without holes, restarting at 0 only after a reboot', () => {
    for (const { m, events } of traces) {
      const reports = byDeviceTime(reportsOf(events));
      const restarts = reports.filter((r, i) => i > 0 && r.seq !== reports[i - 1]!.seq! + 1);
      expect(restarts.every((r) => r.seq === 0)).toBe(true);
      const boots = m
        .truth()
        .events.filter((e) => e.kind === 'reboot' || (e.kind === 'powerCut' && e.to !== null));
      expect(restarts.length).toBe(boots.filter((e) => e.to! <= START + 7 * DAY).length);
    }
  });

  it('drops the link for off-network faults and brings it back', () => {
    for (const { events } of traces) {
      const links = events.filter((e): e is Extract<SimEvent, { kind: 'link' }> => e.kind === 'link');
      for (let i = 0; i < links.length; i++) expect(links[i]!.up).toBe(i % 2 === 1);
    }
  });

  it('reports the first fix after a reboot only after a cold start at 0,0', () => {
    let coldStarts = 0;
    for (const { events } of traces) {
      for (const r of reportsOf(events)) {
        if (r.seq === 0 && r.ts > START) {
          expect(r).toMatchObject({ fix: false, lat: 0, lon: 0 });
          expect(hasUsableFix(r)).toBe(false);
          coldStarts++;
        }
      }
    }
    expect(coldStarts).toBeGreaterThan(0);
  });

  it('raises powerCut on battery and antennaCut without a fix', () => {
    const all = traces.flatMap(({ events }) => reportsOf(events));
    const cut = all.filter((r) => r.alm?.includes('powerCut'));
    const antenna = all.filter((r) => r.alm?.includes('antennaCut'));
    expect(cut.length).toBeGreaterThan(0);
    expect(cut.every((r) => r.pwr === 0)).toBe(true);
    expect(cut.some((r) => r.bat! < 50)).toBe(true); // draining the backup battery
    expect(antenna.length).toBeGreaterThan(0);
    expect(antenna.every((r) => r.fix === false)).toBe(true);
  });
});

describe('the story machine', () => {
  const departAt = START + 3 * 3_600_000;
  const [story] = createFleet({ devices: 1, seed: 42, start: START, story: { departAt } });
  const events = runMachine(story!, START + 3 * DAY);
  const reports = byDeviceTime(reportsOf(events));

  it('leaves on a trailer with the ignition off, heading out of Jiangsu', () => {
    expect(story!.identity.deviceId).toBe(STORY_DEVICE_ID);
    const onTrailer = reports.filter((r) => r.ts > departAt && r.ign === false && (r.spd ?? 0) >= 40);
    expect(onTrailer.length).toBeGreaterThan(20);
    const last = reports[reports.length - 1]!;
    expect(last.lon).toBeLessThan(STORY_ROUTE[2]!.lon); // west of Xiao County: in Anhui
  });

  it('sends powerCut alarms on battery, then goes dark for good', () => {
    const alarms = reports.filter((r) => r.alm?.includes('powerCut'));
    expect(alarms.length).toBeGreaterThanOrEqual(3);
    expect(reports[reports.length - 1]!.alm).toContain('powerCut');
    expect(alarms.every((r) => r.pwr === 0 && r.ign === false && r.spd! > 30)).toBe(true);
    expect(events[events.length - 1]).toMatchObject({ kind: 'link', up: false, reason: 'power' });
    expect(story!.alive).toBe(false);
    expect(story!.advance(START + 30 * DAY)).toEqual([]);
  });

  it('writes the story into the ground truth', () => {
    const notes = story!
      .truth()
      .events.filter((e) => e.kind === 'story')
      .map((e) => e.note);
    expect(notes.join('\n')).toMatch(/lowboy[\s\S]*Anhui[\s\S]*power cut[\s\S]*dark[\s\S]*hideout/);
  });
});
