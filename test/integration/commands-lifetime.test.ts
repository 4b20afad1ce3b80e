/**
 * Commands over time, through the real broker and database: an expired command is never carried
 * out (even when the box hears of it later), and an emergency release needs a second approver and
 * re-arms the machine after its window while the account is still overdue. Commands here are valid
 * for 20 s (COMMAND_TTL_SECONDS); the platform and the boxes read a clock the test moves forward,
 * so "20 s later" or "two days later" takes no waiting.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testClock } from '../support/clock.ts';
import { type CommandDesk, openCommandDesk } from '../support/command-desk.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;

describe(`command lifetime on ${engineName}`, () => {
  let platform: TestPlatform;
  let desk: CommandDesk;
  const clock = testClock();

  const api: CommandDesk['api'] = (...args) => desk.api(...args);
  const state = async (id: string) => (await api('risk1', 'GET', `/api/commands/${id}`)).body.state as string;

  /** A box on a stage-3 machine, warned; `connect()` starts a new connection of it. */
  const box = async (n: number) => {
    const b = await desk.stage3Box(n);
    let first = true;
    const connect = () => {
      const device = first ? b.device : b.reconnect();
      first = false;
      device.start();
      return device;
    };
    return { ...b, connect };
  };

  beforeAll(async () => {
    platform = await startTestPlatform({ COMMAND_TTL_SECONDS: 20 }, { now: clock.now });
    desk = await openCommandDesk(
      platform,
      { risk1: 'risk_manager', risk2: 'risk_manager', collector: 'collector', admin: 'admin' },
      `LT${run}`,
      { now: clock.now },
    );
  }, 180_000);
  afterAll(async () => {
    await desk?.close();
    await platform?.teardown();
  });

  it('a command that expires while the box is away is never carried out', async () => {
    const b = await box(1);
    const device = b.connect();
    await waitFor(async () => device.stats().connects > 0, { what: 'box connected' });
    device.publishTelemetry(
      b.firmware.report({ v: 1, ts: clock.now(), lat: 30.5, lon: 114.3, fix: true, ign: false, spd: 0 }),
    );
    await waitFor(
      async () =>
        (await platform.db.query('select 1 from latest_position where device_id = $1', [b.deviceId])).rows
          .length > 0,
      { what: 'report stored' },
    );
    await device.stop(); // away, its persistent session keeps what is sent meanwhile

    const locate = await api('risk1', 'POST', '/api/commands', {
      deviceId: b.deviceId,
      type: 'locate',
      reason: 'where',
    });
    expect(locate.status).toBe(201);
    await waitFor(async () => (await state(locate.body.id)) === 'SENT', { what: 'SENT' });
    expect(await state(locate.body.id)).toBe('SENT'); // not expired before its time
    clock.advance(21_000);
    await waitFor(async () => (await state(locate.body.id)) === 'EXPIRED', {
      what: 'EXPIRED',
      everyMs: 100,
    });

    b.connect(); // back: the broker delivers the old command; the box refuses it as expired
    await waitFor(async () => b.answered.includes(locate.body.id), { what: 'the box to answer' });
    expect(b.firmware.immobilizer.events.filter((e) => e.kind === 'located')).toEqual([]);
    expect(await state(locate.body.id)).toBe('EXPIRED');
  });

  it('an emergency release needs a second approver and re-arms after its window if still overdue', async () => {
    const b = await box(2);
    const device = b.connect();
    await waitFor(async () => device.stats().connects > 0, { what: 'box connected' });
    const parked = () =>
      device.publishTelemetry(
        b.firmware.report({ v: 1, ts: clock.now(), lat: 30.5, lon: 114.3, fix: true, ign: false, spd: 0 }),
      );
    parked();
    await waitFor(
      async () =>
        (await platform.db.query('select 1 from latest_position where device_id = $1', [b.deviceId])).rows
          .length > 0,
      { what: 'report stored' },
    );
    const imm = await api('risk1', 'POST', '/api/commands', {
      contractId: b.contractId,
      type: 'immobilize',
      reason: 'stage 3',
    });
    await api('risk2', 'POST', `/api/commands/${imm.body.id}/approve`, { note: 'ok' });
    await waitFor(
      async () => {
        parked();
        return (await state(imm.body.id)) === 'EXECUTED';
      },
      { what: 'immobilize EXECUTED', everyMs: 500 },
    );

    // The customer's child is ill and the machine must move: an emergency release, still overdue.
    const rel = await api('risk1', 'POST', '/api/commands', {
      contractId: b.contractId,
      type: 'release',
      reason: 'emergency: hospital run',
    });
    expect(rel.body).toMatchObject({ state: 'REQUESTED', emergency: true });
    await platform.current.dispatchPass!();
    expect(await state(rel.body.id)).toBe('REQUESTED'); // held for the second person
    expect((await api('risk1', 'POST', `/api/commands/${rel.body.id}/approve`, {})).status).toBe(403);
    await api('risk2', 'POST', `/api/commands/${rel.body.id}/approve`, { note: 'seen the hospital note' });
    await waitFor(
      async () => {
        parked();
        return (await state(rel.body.id)) === 'EXECUTED';
      },
      { what: 'release EXECUTED', everyMs: 500 },
    );
    expect(b.firmware.immobilizer.state).toEqual({ armed: false, engaged: false });
    const { rows } = await platform.db.query<{ rearm_at: Date }>(
      'select rearm_at from command where id = $1',
      [rel.body.id],
    );
    const window = new Date(rows[0]!.rearm_at).getTime() - clock.now();
    expect(window).toBeGreaterThan(47 * 3_600_000);
    expect(window).toBeLessThanOrEqual(48 * 3_600_000);

    // Two days later the window is over and the account is still overdue: the machine is re-armed.
    clock.advance(48 * 3_600_000 + 1000);
    await waitFor(
      async () => {
        parked(); // the box keeps reporting, so the policy hears from it
        return b.firmware.immobilizer.state.armed;
      },
      { what: 're-armed on the box', everyMs: 250 },
    );
    const list = await api('risk1', 'GET', `/api/commands?deviceId=${b.deviceId}`);
    const rearm = list.body.find(
      (c: { type: string; requestedBy: string }) => c.type === 'immobilize' && c.requestedBy === 'system',
    );
    expect(rearm).toBeDefined();
    const detail = await api('risk1', 'GET', `/api/commands/${rearm.id}`);
    expect(detail.body.approvals).toEqual([
      expect.objectContaining({ decision: 'approve', note: expect.stringContaining(imm.body.id) }),
    ]);
    expect(detail.body.transitions.map((t: { to: string }) => t.to).slice(0, 2)).toEqual([
      'REQUESTED',
      'APPROVED',
    ]);
  });
});
