/**
 * Each alert kind through ingest's transaction (telemetry + rules): raised once (a flapping signal
 * stays one alert), cleared when the condition has gone, never raised by a normal working day.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseSilentAlerts } from '../../api/alerts/silence.ts';
import type { Database } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import type { Telemetry } from '../../shared/protocol.ts';
import { engineName, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import {
  alertsOf,
  createLocationRules,
  HOUR,
  ingestReports,
  MIN,
  north,
  report,
  seedMachine,
  T0,
  XUZHOU,
} from '../support/location.ts';

let db: Database;
let scratch: ScratchDatabase;
let n = 0;
const rules = createLocationRules();

beforeAll(async () => {
  scratch = await scratchDatabase();
  db = await scratch.open();
  await migrate(db);
});
afterAll(async () => {
  await db.close();
  await scratch.drop();
});

/** Sends each report as its own batch, as a live box does. */
async function send(deviceId: string, reports: Telemetry[]) {
  const kinds: string[] = [];
  for (const r of reports) {
    const out = await ingestReports(db, rules, deviceId, [r]);
    kinds.push(...out.alerts.map((a) => `${a.kind}:${a.status}`));
  }
  return kinds;
}

/** A normal working day: drive out with the ignition on, work, drive back, park. */
function workingDay(start: number): Telemetry[] {
  const out: Telemetry[] = [];
  let hrs = 100;
  for (let i = 0; i <= 20; i++)
    out.push(report(start + i * 30_000, { ign: true, spd: 20, lat: north(i * 150), hrs }));
  for (let i = 0; i < 60; i++) {
    hrs += 0.1;
    out.push(
      report(start + 11 * MIN + i * 5 * MIN, { ign: true, spd: i % 3 === 0 ? 4 : 0, lat: north(3000), hrs }),
    );
  }
  for (let i = 0; i < 6; i++) out.push(report(start + 6 * HOUR + i * 10 * MIN, { lat: north(3000), hrs }));
  return out;
}

describe(`alerts (${engineName})`, () => {
  it.each([
    ['power_cut', { pwr: 0, alm: ['powerCut'] }],
    ['antenna_cut', { fix: false, alm: ['antennaCut'] }],
    ['tamper', { alm: ['tamper'] }],
  ] as [string, Partial<Telemetry>][])(
    '%s from the box alarm: raised once through flapping, cleared after 10 quiet minutes',
    async (kind, alarm) => {
      const m = await seedMachine(db, ++n);
      const t = T0;
      const pushed = await send(m.deviceId, [
        report(t),
        report(t + 1 * MIN, alarm),
        report(t + 2 * MIN), // flaps off…
        report(t + 3 * MIN, alarm), // …and on again: the same alert
        report(t + 4 * MIN),
        report(t + 9 * MIN),
      ]);
      expect(pushed).toEqual([`${kind}:open`]);
      let rows = await alertsOf(db, m.deviceId);
      expect(rows.map((r) => [r.kind, r.status, r.occurrences])).toEqual([[kind, 'open', 2]]);
      expect(await send(m.deviceId, [report(t + 15 * MIN)])).toEqual([`${kind}:cleared`]);
      rows = await alertsOf(db, m.deviceId);
      expect(rows.map((r) => [r.kind, r.status])).toEqual([[kind, 'cleared']]);
      expect(new Date(rows[0]!.cleared_at!).getTime()).toBe(t + 15 * MIN);
    },
  );

  it('a normal working day raises nothing, on any kind, at stage 0', async () => {
    const m = await seedMachine(db, ++n, { stage: 0, addresses: [{ kind: 'job_site', ...XUZHOU }] });
    expect(await send(m.deviceId, workingDay(T0))).toEqual([]);
    expect(await alertsOf(db, m.deviceId)).toEqual([]);
  });

  it('a normal working day of a stage-3 machine at its known site: only its engine hours are news', async () => {
    const m = await seedMachine(db, ++n, { stage: 3, addresses: [{ kind: 'job_site', ...XUZHOU }] });
    expect(await send(m.deviceId, workingDay(T0))).toEqual(['engine_hours_overdue:open']);
  });

  it('moving with ignition off (a trailer): one alert through a rest stop, cleared an hour after it stops', async () => {
    const m = await seedMachine(db, ++n, { stage: 3 });
    const trailer = (from: number, count: number, startM: number) =>
      Array.from({ length: count }, (_, i) =>
        report(from + i * 30_000, { spd: 55, lat: north(startM + i * 460) }),
      );
    const reports = [
      report(T0),
      ...trailer(T0 + MIN, 10, 0),
      ...Array.from({ length: 4 }, (_, i) => report(T0 + 7 * MIN + i * 5 * MIN, { lat: north(4600) })), // rest stop
      ...trailer(T0 + 30 * MIN, 10, 4600),
    ];
    // Several reports per batch too, as after a busy moment.
    const out = await ingestReports(db, rules, m.deviceId, reports.slice(0, 5));
    expect(out.alerts.map((a) => a.kind)).toEqual(['moving_ignition_off']);
    expect(new Date(out.alerts[0]!.raisedAt).getTime()).toBe(T0 + MIN);
    expect(await send(m.deviceId, reports.slice(5))).toEqual([]);
    const parkedAt = north(9200);
    expect(
      await send(m.deviceId, [
        report(T0 + 40 * MIN, { lat: parkedAt }),
        report(T0 + 70 * MIN, { lat: parkedAt }),
      ]),
    ).toEqual([]);
    expect(await send(m.deviceId, [report(T0 + 101 * MIN, { lat: parkedAt })])).toEqual([
      'moving_ignition_off:cleared',
    ]);
    expect((await alertsOf(db, m.deviceId)).map((r) => [r.kind, r.status, r.occurrences])).toEqual([
      ['moving_ignition_off', 'cleared', 2],
    ]);
  });

  it('moving with ignition off without reported speed: from the displacement between fixes', async () => {
    const m = await seedMachine(db, ++n);
    const noSpeed = (ts: number, metres: number): Telemetry => {
      const { spd: _spd, ...r } = report(ts, { lat: north(metres) });
      return r;
    };
    const out = await send(m.deviceId, [noSpeed(T0, 0), noSpeed(T0 + 30_000, 3), noSpeed(T0 + 60_000, 460)]);
    expect(out).toEqual(['moving_ignition_off:open']);
  });

  it('far from its known sites: only for a stage-3 machine with known sites', async () => {
    const site = [{ kind: 'job_site', ...XUZHOU }];
    const overdue = await seedMachine(db, ++n, { stage: 3, addresses: site });
    const current = await seedMachine(db, ++n, { stage: 0, addresses: site });
    const away = (ts: number) => report(ts, { lat: north(45_000), ign: true, spd: 30 });
    expect(await send(overdue.deviceId, [report(T0), away(T0 + HOUR)])).toEqual(['far_from_sites:open']);
    expect(await send(overdue.deviceId, [away(T0 + HOUR + MIN)])).toEqual([]);
    expect(await send(current.deviceId, [report(T0), away(T0 + HOUR)])).toEqual([]);
    expect(await send(overdue.deviceId, [report(T0 + 2 * HOUR), report(T0 + 2 * HOUR + 11 * MIN)])).toEqual([
      'far_from_sites:cleared',
    ]);
  });

  it('engine hours rising on an account at stage 2; cleared when the account is cured', async () => {
    const overdue = await seedMachine(db, ++n, { stage: 2 });
    const current = await seedMachine(db, ++n, { stage: 1 });
    const working = (from: number, hrs: number) =>
      Array.from({ length: 8 }, (_, i) => report(from + i * 15 * MIN, { ign: true, hrs: hrs + i * 0.25 }));
    expect(await send(overdue.deviceId, working(T0, 500))).toEqual(['engine_hours_overdue:open']);
    expect(await send(overdue.deviceId, working(T0 + 2 * HOUR, 502))).toEqual([]);
    expect(await send(current.deviceId, working(T0, 500))).toEqual([]);
    await db.query('update contract set stage = 0 where id = $1', [overdue.contractId]);
    expect(await send(overdue.deviceId, [report(T0 + 5 * HOUR, { hrs: 504 })])).toEqual([
      'engine_hours_overdue:cleared',
    ]);
  });

  it('immobilized machine started: raised only once the relay held it stopped; cleared on release', async () => {
    const m = await seedMachine(db, ++n);
    // Armed while working: takes effect at the next stop, no alarm for the ignition still on.
    expect(
      await send(m.deviceId, [
        report(T0, { ign: true, spd: 5, rly: true }),
        report(T0 + MIN, { ign: true, rly: true }),
        report(T0 + 2 * MIN, { ign: false, rly: true }),
        report(T0 + 30 * MIN, { ign: false, rly: true }),
      ]),
    ).toEqual([]);
    expect(
      await send(m.deviceId, [
        report(T0 + 40 * MIN, { ign: true, rly: true }),
        report(T0 + 41 * MIN, { ign: true, rly: true, spd: 12 }),
      ]),
    ).toEqual(['immobilized_moving:open']);
    expect(
      await send(m.deviceId, [report(T0 + 50 * MIN, { rly: false }), report(T0 + 61 * MIN, { rly: false })]),
    ).toEqual(['immobilized_moving:cleared']);
  });

  it('silent: raised once by the clock for the stage, cleared by the next report', async () => {
    const overdue = await seedMachine(db, ++n, { stage: 3 });
    const current = await seedMachine(db, ++n, { stage: 0 });
    await send(overdue.deviceId, [report(T0)]);
    await send(current.deviceId, [report(T0)]);
    const mine = (alerts: { deviceId: string }[]) =>
      alerts
        .filter((a) => a.deviceId === overdue.deviceId || a.deviceId === current.deviceId)
        .map((a) => a.deviceId);
    expect(mine(await raiseSilentAlerts(db, T0 + 5 * HOUR))).toEqual([]);
    expect(mine(await raiseSilentAlerts(db, T0 + 7 * HOUR))).toEqual([overdue.deviceId]);
    expect(mine(await raiseSilentAlerts(db, T0 + 8 * HOUR))).toEqual([]);
    expect(mine(await raiseSilentAlerts(db, T0 + 25 * HOUR))).toEqual([current.deviceId]);
    expect(await send(overdue.deviceId, [report(T0 + 26 * HOUR)])).toEqual(['silent:cleared']);
    expect((await alertsOf(db, overdue.deviceId)).map((r) => [r.kind, r.status])).toEqual([
      ['silent', 'cleared'],
    ]);
  });

  it('a backlog older than what was seen can raise (what happened in the gap) but not clear', async () => {
    const m = await seedMachine(db, ++n);
    await send(m.deviceId, [report(T0 + HOUR)]);
    const out = await ingestReports(db, rules, m.deviceId, [
      report(T0 + 10 * MIN, { pwr: 0, alm: ['powerCut'] }),
      report(T0 + 20 * MIN),
      report(T0 + 40 * MIN),
    ]);
    expect(out.alerts.map((a) => `${a.kind}:${a.status}`)).toEqual(['power_cut:open']);
    expect(await send(m.deviceId, [report(T0 + HOUR + MIN), report(T0 + HOUR + 12 * MIN)])).toEqual([
      'power_cut:cleared',
    ]);
  });
});
