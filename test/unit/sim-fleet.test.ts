import { describe, expect, it } from 'vitest';
import { parseTelemetryMessage, parseTopic, TelemetrySchema, topics } from '../../shared/protocol.ts';
import {
  createFleet,
  defaultStoryDeparture,
  deviceTokenFor,
  STORY_DEVICE_ID,
  seedTokenKey,
} from '../../simulators/fleet.ts';
import { CITIES } from '../../simulators/places.ts';
import { reportsOf, runMachine } from '../../simulators/trace.ts';

const START = Date.UTC(2026, 5, 1, 2, 15, 0); // 10:15 China time, a Monday
const WEEK = 7 * 86_400_000;

describe('fleet identity', () => {
  const fleet = createFleet({ devices: 300, seed: 42, start: START });

  it('gives every box a unique id and a 32-hex token', () => {
    const ids = new Set(fleet.map((m) => m.identity.deviceId));
    const tokens = new Set(fleet.map((m) => m.identity.token));
    expect(ids.size).toBe(300);
    expect(tokens.size).toBe(300);
    for (const m of fleet) {
      expect(m.identity.deviceId).toMatch(/^SIM-\d{6}$/);
      expect(m.identity.token).toMatch(/^[0-9a-f]{32}$/);
      expect(m.identity.pin).toHaveLength(17);
    }
    expect(fleet[122]?.identity.deviceId).toBe('SIM-000123');
  });

  it('spreads machines over real cities in several provinces, sites within tens of km', () => {
    const provinces = new Set(fleet.map((m) => m.identity.province));
    expect(provinces.size).toBeGreaterThanOrEqual(8);
    const types = new Set(fleet.map((m) => m.identity.type));
    expect(types.size).toBe(5);
    for (const m of fleet) {
      expect(CITIES.some((c) => c.name === m.identity.city && c.province === m.identity.province)).toBe(true);
      expect(m.home.sites.length).toBeGreaterThanOrEqual(1);
      expect(m.home.sites.length).toBeLessThanOrEqual(3);
    }
  });

  it('keeps machine N the same whatever the fleet size', () => {
    const small = createFleet({ devices: 10, seed: 42, start: START });
    expect(small[7]?.identity).toEqual(fleet[7]?.identity);
    expect(small[7]?.home).toEqual(fleet[7]?.home);
  });

  it('derives the tokens from the token key: another key, other tokens, the same machines', () => {
    const keyed = createFleet({ devices: 3, seed: 42, start: START, tokenKey: 'a-secret-key-of-this-fleet' });
    for (const [i, m] of keyed.entries()) {
      expect(m.identity.token).toBe(deviceTokenFor('a-secret-key-of-this-fleet', m.identity.deviceId));
      expect(m.identity.token).not.toBe(fleet[i]!.identity.token);
      expect({ ...m.identity, token: fleet[i]!.identity.token }).toEqual(fleet[i]!.identity);
    }
  });

  it('numbers the boxes under another id prefix, the rest of each machine unchanged', () => {
    const other = createFleet({ devices: 3, seed: 42, start: START, idPrefix: 'E2E-t9.a' });
    expect(other.map((m) => m.identity.deviceId)).toEqual([
      'E2E-t9.a-000001',
      'E2E-t9.a-000002',
      'E2E-t9.a-000003',
    ]);
    for (const [i, m] of other.entries()) {
      expect(parseTopic(topics.telemetry(m.identity.deviceId))?.deviceId).toBe(m.identity.deviceId);
      // The token is of the device id, so it changes with it.
      expect(m.identity.token).toBe(deviceTokenFor(seedTokenKey(42), m.identity.deviceId));
      const { deviceId, token } = fleet[i]!.identity;
      expect({ ...m.identity, deviceId, token }).toEqual(fleet[i]!.identity);
    }
    for (const bad of ['', '-x', 'a/b', 'a+', 'x'.repeat(41), 'two words']) {
      expect(() => createFleet({ devices: 1, seed: 1, start: START, idPrefix: bad }), bad).toThrow(
        RangeError,
      );
    }
  });

  it('puts the story machine first: an excavator from Xuzhou, Jiangsu', () => {
    const story = fleet[0]!;
    expect(story.identity.deviceId).toBe(STORY_DEVICE_ID);
    expect(story.identity).toMatchObject({ type: 'excavator', city: 'Xuzhou', province: 'Jiangsu' });
  });

  it('rejects nonsense options', () => {
    expect(() => createFleet({ devices: -1, seed: 1, start: START })).toThrow(RangeError);
    expect(() => createFleet({ devices: 1, seed: 1, start: START, intervals: { movingMs: 0 } })).toThrow(
      RangeError,
    );
    expect(() => createFleet({ devices: 1, seed: 1, start: START, story: { departAt: START - 1 } })).toThrow(
      RangeError,
    );
  });

  it('schedules the default story at 23:30 China time on the first night', () => {
    const depart = defaultStoryDeparture(START);
    expect(new Date(depart).toISOString()).toBe('2026-06-01T15:30:00.000Z');
    expect(new Date(defaultStoryDeparture(Date.UTC(2026, 5, 1, 15, 0))).toISOString()).toBe(
      '2026-06-02T15:30:00.000Z',
    );
  });
});

describe('determinism', () => {
  const week = (seed: number, step: number) =>
    createFleet({ devices: 4, seed, start: START }).map((m) => runMachine(m, START + WEEK, step));

  it('same seed, same week, event for event', () => {
    expect(week(42, 3_600_000)).toEqual(week(42, 3_600_000));
  });

  it('does not depend on how the runner steps the clock', () => {
    const hourly = week(42, 3_600_000);
    expect(week(42, 17_000)).toEqual(hourly);
    expect(week(42, WEEK)).toEqual(hourly);
  });

  it('a different seed gives a different fleet', () => {
    const a = createFleet({ devices: 3, seed: 1, start: START });
    const b = createFleet({ devices: 3, seed: 2, start: START });
    expect(a.map((m) => m.identity.token)).not.toEqual(b.map((m) => m.identity.token));
    expect(runMachine(a[1]!, START + 86_400_000)).not.toEqual(runMachine(b[1]!, START + 86_400_000));
  });
});

describe('reports on the wire', () => {
  it('every message is valid protocol v1 under the 64 KiB limit', () => {
    const fleet = createFleet({ devices: 8, seed: 9, start: START });
    let count = 0;
    const rejected = [];
    for (const m of fleet) {
      for (const e of runMachine(m, START + WEEK)) {
        if (e.kind !== 'telemetry') continue;
        const parsed = parseTelemetryMessage(JSON.stringify(e.payload));
        rejected.push(...parsed.rejected);
        count += parsed.reports.length;
      }
    }
    expect(rejected).toEqual([]);
    expect(count).toBeGreaterThan(8 * 3000);
  });

  it('the first report is at the start, so a map shows the fleet at once', () => {
    const fleet = createFleet({ devices: 5, seed: 3, start: START });
    for (const m of fleet) {
      const first = m.advance(START).find((e) => e.kind === 'telemetry');
      expect(first?.at).toBe(START);
      expect(TelemetrySchema.parse(first?.payload)).toMatchObject({ seq: 0, ts: START, rly: false });
    }
  });

  it('reports every 30 s working and 5-10 min parked', () => {
    const [m] = createFleet({ devices: 1, seed: 5, start: START, story: false, faults: {} });
    const reports = reportsOf(runMachine(m!, START + WEEK)).sort((a, b) => a.ts - b.ts);
    const gaps = { moving: [] as number[], parked: [] as number[] };
    for (let i = 1; i < reports.length; i++) {
      const prev = reports[i - 1]!;
      const dt = reports[i]!.ts - prev.ts;
      if (prev.seq !== undefined && reports[i]!.seq !== prev.seq + 1) continue; // reboot in between
      (prev.ign || (prev.spd ?? 0) > 0 ? gaps.moving : gaps.parked).push(dt);
    }
    expect(Math.max(...gaps.moving)).toBeLessThanOrEqual(30_000);
    expect(Math.max(...gaps.parked)).toBeLessThanOrEqual(10 * 60_000);
    expect(gaps.parked.filter((g) => g >= 5 * 60_000).length).toBeGreaterThan(gaps.parked.length / 2);
  });

  it('reports the relay state, false until the command hook sets it', () => {
    const [m] = createFleet({ devices: 1, seed: 5, start: START });
    expect(reportsOf(m!.advance(START + 3_600_000)).every((r) => r.rly === false)).toBe(true);
    m!.setRelay(true);
    const later = reportsOf(m!.advance(START + 7_200_000));
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((r) => r.rly === true)).toBe(true);
  });
});
