/**
 * Money has four eyes. A payment cures an account and so releases an immobilized machine: with a GPS
 * stop under way, one that would lower the stage, booked by hand, counts only once a risk manager
 * other than its booker confirms it; a bank file's payments count at once and keep the file's
 * sha256; a bounced payment is reversed and the stage rises again. Every booking, confirmation and
 * reversal is in the audit chain with its actor. (Once any collector could book any payment, with no
 * actor kept, and the machine was released.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../api/audit/log.ts';
import { type CommandDesk, type DeskBox, openCommandDesk } from '../support/command-desk.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;

describe(`payments with a GPS stop under way (${engineName})`, () => {
  let platform: TestPlatform;
  let desk: CommandDesk;
  const api: CommandDesk['api'] = (...args) => desk.api(...args);
  const today = () => new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10); // Shanghai

  /** A parked box on a stage-3 loan, immobilized (EXECUTED); returns what is overdue, in fen. */
  const immobilized = async (n: number) => {
    const b = await desk.stage3Box(n);
    b.device.start();
    await waitFor(async () => b.device.stats().connects > 0, { what: 'box connected' });
    await desk.immobilized(b);
    return { box: b, overdue: await desk.overdueAmount(b) };
  };
  const stage = async (b: DeskBox) =>
    (await api('admin', 'GET', `/api/contracts/${b.contractId}`)).body.overdue.stage;
  const released = async (b: DeskBox) => {
    await platform.current.dispatchPass!();
    const list = (await api('risk1', 'GET', `/api/commands?deviceId=${b.deviceId}`)).body as {
      type: string;
      requestedBy: string;
    }[];
    return list.some((c) => c.type === 'release' && c.requestedBy === 'system');
  };
  const audit = async (action: string, b: DeskBox) =>
    (await listAudit(platform.db, 0, 100_000)).filter(
      (e) => e.action === action && e.subject === `contract:${b.contractId}`,
    );

  beforeAll(async () => {
    platform = await startTestPlatform();
    desk = await openCommandDesk(
      platform,
      { risk1: 'risk_manager', risk2: 'risk_manager', collector: 'collector', admin: 'admin' },
      `MO${run}`,
    );
  });
  afterAll(async () => {
    await desk?.close();
    await platform?.teardown();
  });

  it('holds a hand-booked cure until a second person confirms it; the booker cannot', async () => {
    const { box, overdue } = await immobilized(1);
    const booked = await api('risk1', 'POST', `/api/contracts/${box.contractId}/payments`, {
      date: today(),
      amount: overdue,
      reference: `CASH-${run}-1`,
    });
    expect(booked.status, JSON.stringify(booked.body)).toBe(200);
    expect(booked.body).toMatchObject({ added: true, awaitingConfirmation: true });
    expect(await stage(box)).toBe(3);
    expect(await released(box)).toBe(false);
    const shown = booked.body.contract.payments.find(
      (p: { reference: string }) => p.reference === `CASH-${run}-1`,
    );
    expect(shown).toMatchObject({
      bookedBy: expect.stringContaining('risk'),
      awaitingConfirmation: true,
      confirmedBy: null,
    });

    const self = await api(
      'risk1',
      'POST',
      `/api/contracts/${box.contractId}/payments/CASH-${run}-1/confirm`,
      {},
    );
    expect(self.status).toBe(403);
    expect(
      (await api('collector', 'POST', `/api/contracts/${box.contractId}/payments/CASH-${run}-1/confirm`, {}))
        .status,
    ).toBe(403);
    const paymentUrl = (ref: string, act: string) =>
      `/api/contracts/${box.contractId}/payments/${ref}/${act}`;
    expect((await api('risk2', 'POST', paymentUrl(`CASH-${run}-1`, 'reverse'), {})).status).toBe(400); // says why
    expect((await api('risk2', 'POST', paymentUrl('NO-SUCH', 'confirm'), {})).status).toBe(404);
    const confirmed = await api(
      'risk2',
      'POST',
      `/api/contracts/${box.contractId}/payments/CASH-${run}-1/confirm`,
      {
        note: 'receipt seen',
      },
    );
    expect(confirmed.status, JSON.stringify(confirmed.body)).toBe(200);
    expect(confirmed.body.contract.overdue.stage).toBe(0);
    // Confirmed once, and once only.
    expect((await api('risk2', 'POST', paymentUrl(`CASH-${run}-1`, 'confirm'), {})).status).toBe(409);
    expect(await released(box)).toBe(true);
    await waitFor(async () => !box.firmware.immobilizer.state.engaged, { what: 'released on the box' });

    const [bookedEntry] = await audit('payment.booked', box);
    expect(bookedEntry).toMatchObject({
      detail: expect.objectContaining({ awaitingConfirmation: true, amount: overdue }),
    });
    expect(bookedEntry!.actor).toMatch(/risk/);
    const [confirmedEntry] = await audit('payment.confirmed', box);
    expect(confirmedEntry!.actor).not.toBe(bookedEntry!.actor);

    // The cheque bounces: reversed, the account is overdue again, and that is on record too.
    const reversed = await api(
      'risk2',
      'POST',
      `/api/contracts/${box.contractId}/payments/CASH-${run}-1/reverse`,
      {
        reason: 'cheque returned unpaid by the bank',
      },
    );
    expect(reversed.status).toBe(200);
    expect(reversed.body.contract.overdue.stage).toBe(3);
    expect(await audit('payment.reversed', box)).toHaveLength(1);
  });

  it("counts a bank file's payments at once and keeps the file's sha256", async () => {
    const { box, overdue } = await immobilized(2);
    const csv = `contract_number,date,amount,reference\nGPS-MO${run}-2,${today()},${(overdue / 100).toFixed(2)},BANK-${run}-2\n`;
    const res = await fetch(`${platform.url}/api/payments/import`, {
      method: 'POST',
      headers: { authorization: `Bearer ${desk.token('admin')}`, 'content-type': 'text/csv' },
      body: csv,
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await stage(box)).toBe(0);
    expect(await released(box)).toBe(true);
    const [entry] = await audit('payment.booked', box);
    expect((entry!.detail as { fileSha256?: string }).fileSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('counts a hand-booked payment at once when no GPS stop is under way', async () => {
    const b = await desk.stage3Box(3);
    const overdue = await desk.overdueAmount(b);
    const booked = await api('collector', 'POST', `/api/contracts/${b.contractId}/payments`, {
      date: today(),
      amount: overdue,
      reference: `CASH-${run}-3`,
    });
    expect(booked.body).toMatchObject({ awaitingConfirmation: false });
    expect(booked.body.contract.overdue.stage).toBe(0);
  });
});
