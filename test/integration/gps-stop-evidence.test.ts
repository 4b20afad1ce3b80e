/**
 * The inputs of a GPS-stop decision are evidence stamped by the server. Through the real api, broker
 * and database, on a clock the test moves forward:
 *  - a warning counts 72 h after it was recorded, whatever earlier time its author claims for it;
 *  - a warning stops counting after 30 days, and one recorded before the account was cured never
 *    counts again once it falls back to stage 3;
 *  - a dispute override covers the disputes raised before it, not one raised after it.
 * Each of these once went the other way: backdated warnings armed a box within seconds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testClock } from '../support/clock.ts';
import { type CommandDesk, openCommandDesk } from '../support/command-desk.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const run = `${process.pid}${Date.now() % 100000}`;

describe(`GPS-stop evidence on ${engineName}`, () => {
  let platform: TestPlatform;
  let desk: CommandDesk;
  const clock = testClock();
  const api: CommandDesk['api'] = (...args) => desk.api(...args);

  /** A connected box on a stage-3 loan without warnings; `report()` says it stands, ignition off. */
  const box = async (n: number, loan: { startDate?: string; termMonths?: number } = {}) => {
    const b = await desk.stage3Box(n, { warned: false, ...loan });
    b.device.start();
    await waitFor(async () => b.device.stats().connects > 0, { what: 'box connected' });
    const report = () => b.report({ ign: false, spd: 0 });
    await report();
    return { ...b, report };
  };
  const warn = async (contractId: string, claimedAt: number) => {
    for (const channel of ['sms', 'phone']) {
      const w = await api('collector', 'POST', `/api/contracts/${contractId}/activities`, {
        kind: 'gps_stop_warning',
        channel,
        occurredAt: new Date(claimedAt).toISOString(),
        outcome: 'customer told: GPS stop in 72 h unless paid',
      });
      expect(w.status).toBe(201);
    }
  };
  const request = async (contractId: string) => {
    const res = await api('risk1', 'POST', '/api/commands', {
      contractId,
      type: 'immobilize',
      reason: 'stage 3',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as {
      id: string;
      state: string;
      evaluation: { decision: string; reasons: string[]; missing: string[] };
    };
  };
  const command = async (id: string) => (await api('risk1', 'GET', `/api/commands/${id}`)).body;

  beforeAll(async () => {
    platform = await startTestPlatform({}, { now: clock.now });
    desk = await openCommandDesk(
      platform,
      { risk1: 'risk_manager', risk2: 'risk_manager', collector: 'collector', admin: 'admin' },
      `EV${run}`,
      { now: clock.now },
    );
  });
  afterAll(async () => {
    await desk?.close();
    await platform?.teardown();
  });

  it('counts a warning from when it was recorded, not from the time claimed for it', async () => {
    const b = await box(1);
    await warn(b.contractId, clock.now() - 4 * DAY); // entered now, claimed four days back
    const imm = await request(b.contractId);
    expect(imm.evaluation.missing.join('; ')).toMatch(/the warning period runs until/);
    expect((await api('risk2', 'POST', `/api/commands/${imm.id}/approve`, { note: 'ok' })).status).toBe(200);
    await platform.current.dispatchPass!();
    expect(await command(imm.id)).toMatchObject({ state: 'APPROVED', attempts: 0 }); // held back

    // The approved command lapses with its validity (24 h) instead of waiting for the warnings.
    clock.advance(25 * HOUR);
    await platform.current.dispatchPass!();
    expect((await command(imm.id)).state).toBe('EXPIRED');
    // 72 hours after the warnings were recorded, a new request needs only its second approver.
    clock.advance(47 * HOUR + 60_000);
    await b.report();
    const again = await request(b.contractId);
    expect(again.evaluation.missing).toEqual([expect.stringMatching(/approval by a second risk manager/)]);
    expect((await api('risk2', 'POST', `/api/commands/${again.id}/approve`, { note: 'ok' })).status).toBe(
      200,
    );
    await waitFor(async () => b.firmware.immobilizer.state.armed, { what: 'the box armed' });
  });

  it('forgets a warning after 30 days', async () => {
    const b = await box(2);
    await warn(b.contractId, clock.now());
    clock.advance(31 * DAY);
    await b.report();
    const imm = await request(b.contractId);
    expect(imm.evaluation.missing.join('; ')).toMatch(/a GPS-stop warning through 2 channels/);
  });

  it('does not count a warning from before a cure once the account is back at stage 3', async () => {
    // A loan whose next instalment falls due in five days, eleven behind.
    const today = new Date(clock.now() + 8 * HOUR); // contract-local (Asia/Shanghai) date
    const start = new Date(Date.UTC(today.getUTCFullYear() - 1, today.getUTCMonth(), today.getUTCDate() + 5));
    const b = await box(3, { startDate: start.toISOString().slice(0, 10), termMonths: 24 });
    const contractId = b.contractId;
    const c = await api('admin', 'GET', `/api/contracts/${contractId}`);
    expect(c.body.overdue.stage).toBe(3);
    await warn(contractId, clock.now());

    // Paid down to two instalments behind: cured for the GPS stop (stage 2).
    const overdue = (c.body.instalments as { status: string; unpaid: number }[]).filter(
      (i) => i.status === 'overdue',
    );
    expect(overdue.length).toBeGreaterThanOrEqual(3);
    const amount = overdue.slice(0, overdue.length - 2).reduce((sum, i) => sum + i.unpaid, 0);
    const paid = await api('collector', 'POST', `/api/contracts/${contractId}/payments`, {
      date: today.toISOString().slice(0, 10),
      amount,
      reference: `EV-CURE-${run}`,
    });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    expect(paid.body.contract.overdue.stage).toBe(2);

    // Six days later the next instalment is overdue: stage 3 again, the warnings six days old.
    clock.advance(6 * DAY);
    await b.report();
    const imm = await request(contractId);
    expect(imm.evaluation.reasons.join('; ')).toMatch(/account at stage 3/);
    expect(imm.evaluation.missing.join('; ')).toMatch(/a GPS-stop warning through 2 channels/);
  });

  it('does not let an override cover a dispute raised after it', async () => {
    const b = await box(4);
    await warn(b.contractId, clock.now());
    const dispute = async () =>
      expect(
        (
          await api('collector', 'POST', `/api/contracts/${b.contractId}/activities`, {
            kind: 'dispute_raised',
            disputeCategory: 'quality',
            body: 'the hydraulics leak, says the customer',
          })
        ).status,
      ).toBe(201);
    await dispute();
    const override = await api('risk1', 'POST', `/api/contracts/${b.contractId}/dispute-override`, {
      reason: 'inspected on site: no leak, the dispute is a pretext',
    });
    expect(override.status).toBe(201);
    clock.advance(73 * HOUR);
    await b.report();
    // The first dispute is overridden: nothing but the second approval is missing.
    const first = await request(b.contractId);
    expect(first.evaluation.decision).toBe('wait');
    await api('risk1', 'POST', `/api/commands/${first.id}/cancel`, { reason: 'a new dispute came in' });

    await dispute(); // a new dispute, raised after the override
    const second = await request(b.contractId);
    expect(second.evaluation.decision).toBe('deny');
    expect(second.evaluation.missing.join('; ')).toMatch(/a dispute is open/);
  });
});
