/**
 * Commands end, and releases do not stall. Through the real api, broker and database, with boxes
 * running the reference firmware on a clock the test moves forward:
 *  - an immobilize the box took on but never engaged (the machine kept working) ends: the box
 *    disarms at its expiry and the platform marks it EXPIRED and follows it with a disarm (a box
 *    whose clock is days behind would keep it armed), instead of ACKED for ever; an
 *    emergency release that executes closes it, so re-arming after the window is not refused;
 *  - after a cure the machine is released although an emergency release waits for its approver;
 *  - one cured machine whose device is disabled holds back no other machine's command, and its own
 *    release waits for the device;
 *  - a machine is released after a cure however many other commands it got since its immobilize;
 *  - an answer not signed with the device's key changes nothing and is recorded;
 *  - a stop engaged for 30 days asks the risk managers for a decision, again every week, until it ends.
 * Each of these once went the other way.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../api/audit/log.ts';
import { testClock } from '../support/clock.ts';
import { type CommandDesk, type DeskBox, openCommandDesk } from '../support/command-desk.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const MINUTE = 60_000;

describe(`GPS-stop releases and endings on ${engineName}`, () => {
  let platform: TestPlatform;
  let desk: CommandDesk;
  const clock = testClock();
  const api: CommandDesk['api'] = (...args) => desk.api(...args);
  const command = async (id: string) => (await api('risk1', 'GET', `/api/commands/${id}`)).body;
  const commandsOf = async (deviceId: string) =>
    (await api('risk1', 'GET', `/api/commands?deviceId=${deviceId}`)).body as {
      id: string;
      type: string;
      state: string;
      requestedBy: string;
    }[];

  /** A connected, warned box on a stage-3 loan. */
  const box = async (n: number): Promise<DeskBox> => {
    const b = await desk.stage3Box(n);
    b.device.start();
    await waitFor(async () => b.device.stats().connects > 0, { what: 'box connected' });
    return b;
  };
  const immobilize = (b: DeskBox) => desk.immobilize(b);
  const immobilized = (b: DeskBox) => desk.immobilized(b);
  /** Pays everything overdue, confirmed by a second person: the account is current again (stage 0). */
  const cure = async (b: DeskBox) => {
    const amount = await desk.overdueAmount(b);
    const today = new Date(clock.now() + 8 * 3_600_000).toISOString().slice(0, 10); // Shanghai date
    const paid = await api('collector', 'POST', `/api/contracts/${b.contractId}/payments`, {
      date: today,
      amount,
      reference: `CURE-${b.deviceId}`,
    });
    expect(paid.status, JSON.stringify(paid.body)).toBe(200);
    // With the GPS stop under way the booking waits for a second person (docs/contracts.md).
    const confirmed = paid.body.awaitingConfirmation
      ? await api('risk2', 'POST', `/api/contracts/${b.contractId}/payments/CURE-${b.deviceId}/confirm`, {})
      : paid;
    expect(confirmed.body.contract.overdue.stage).toBe(0);
  };
  const releasedBySystem = async (b: DeskBox) =>
    (await commandsOf(b.deviceId)).find((c) => c.type === 'release' && c.requestedBy === 'system');

  beforeAll(async () => {
    platform = await startTestPlatform({}, { now: clock.now });
    desk = await openCommandDesk(
      platform,
      { risk1: 'risk_manager', risk2: 'risk_manager', collector: 'collector', admin: 'admin' },
      `RL${run}`,
      { now: clock.now },
    );
  });
  afterAll(async () => {
    await desk?.close();
    await platform?.teardown();
  });

  it('ends an immobilize that was taken on but never engaged: the box disarms, the platform EXPIRED', async () => {
    const b = await box(1);
    await b.report({ ign: true, spd: 12 }); // working: the interrupt arms but must not engage
    const id = await immobilize(b);
    await waitFor(async () => (await command(id)).state === 'ACKED', { what: 'ACKED' });
    expect(b.firmware.immobilizer.state).toEqual({ armed: true, engaged: false });

    clock.advance(24 * 60 * MINUTE + 6 * MINUTE); // past its validity (24 h) and the 5 minutes' grace
    await b.report({ ign: true, spd: 12 });
    expect(b.firmware.immobilizer.state).toEqual({ armed: false, engaged: false });
    expect(b.firmware.immobilizer.events.map((e) => e.kind)).toContain('lapsed');
    await platform.current.dispatchPass!();
    expect((await command(id)).state).toBe('EXPIRED');
    // Months later the machine stops for the night: nothing engages.
    await b.report({ ign: false, spd: 0 });
    expect(b.firmware.immobilizer.state.engaged).toBe(false);
  });

  it('disarms an immobilize it expired undelivered, which a box with its clock days behind would take', async () => {
    const b = await desk.stage3Box(9, { clockSkewMs: -3 * 24 * 60 * MINUTE });
    b.device.start();
    await waitFor(async () => b.device.stats().connects > 0, { what: 'box connected' });
    await b.report({ ign: false, spd: 0 });
    await b.device.stop(); // away: its persistent session keeps what is sent meanwhile
    const id = await desk.immobilize(b);
    await waitFor(async () => (await command(id)).state === 'SENT', { what: 'SENT' });
    clock.advance(3 * 24 * 60 * MINUTE); // three days later the platform has long given it up
    await platform.current.dispatchPass!();
    expect((await command(id)).state).toBe('EXPIRED');
    expect(
      (await commandsOf(b.deviceId)).find((c) => c.type === 'release' && c.requestedBy === 'system'),
    ).toBeDefined();
    // Back, with a clock three days behind: by its own clock the immobilize is fresh, and the
    // disarm queued after it undoes it.
    const back = b.reconnect();
    back.start();
    await waitFor(async () => b.answered.length >= 2, { what: 'both commands answered' });
    expect(b.firmware.immobilizer.state.armed).toBe(false);
    await b.report({ ign: false, spd: 0 }); // parked: nothing engages
    expect(b.firmware.immobilizer.state.engaged).toBe(false);
  });

  it('closes an armed, never-engaged immobilize when an emergency release executes, so re-arming works', async () => {
    const b = await box(7);
    await b.report({ ign: true, spd: 8 }); // working: armed, not engaged
    const imm = await immobilize(b);
    await waitFor(async () => (await command(imm)).state === 'ACKED', { what: 'ACKED' });
    const rel = await api('risk1', 'POST', '/api/commands', {
      contractId: b.contractId,
      type: 'release',
      reason: 'emergency: a hospital run',
    });
    expect(
      (await api('risk2', 'POST', `/api/commands/${rel.body.id}/approve`, { note: 'seen' })).status,
    ).toBe(200);
    await waitFor(
      async () => {
        await b.report({ ign: true, spd: 8 });
        return (await command(rel.body.id)).state === 'EXECUTED';
      },
      { what: 'release EXECUTED', everyMs: 200 },
    );
    expect((await command(imm)).state).toBe('CANCELLED'); // not ACKED for ever
    // After the emergency window the machine is re-armed, without a conflict with the leftover.
    clock.advance(48 * 60 * MINUTE + MINUTE);
    await b.report({ ign: true, spd: 8 });
    await platform.current.dispatchPass!();
    const rearm = (await commandsOf(b.deviceId)).find(
      (c) => c.type === 'immobilize' && c.requestedBy === 'system',
    );
    expect(rearm).toBeDefined();
    await waitFor(async () => b.firmware.immobilizer.state.armed, { what: 're-armed on the box' });
  });

  it('releases after a cure although an emergency release waits for its approver', async () => {
    const b = await box(2);
    await immobilized(b);
    const emergency = await api('risk1', 'POST', '/api/commands', {
      contractId: b.contractId,
      type: 'release',
      reason: 'emergency: the customer needs the machine',
    });
    expect(emergency.body).toMatchObject({ state: 'REQUESTED', emergency: true });
    await cure(b);
    await platform.current.dispatchPass!();
    expect(await releasedBySystem(b)).toBeDefined();
    await waitFor(async () => !b.firmware.immobilizer.state.engaged, { what: 'released on the box' });
  });

  it("holds back no other machine's command for a cured machine whose device is disabled", async () => {
    const a = await box(3);
    await immobilized(a);
    expect(
      (await api('admin', 'POST', `/api/devices/${a.deviceId}/disable`, { reason: 'stolen box' })).status,
    ).toBe(200);
    await cure(a);
    // Another machine's approved immobilize, held until its box, not yet connected, is heard from.
    const b = await desk.stage3Box(4);
    const id = await immobilize(b);
    await platform.current.dispatchPass!();
    expect((await command(id)).attempts).toBe(0);
    b.device.start();
    await waitFor(async () => b.device.stats().connects > 0, { what: 'the other box connected' });
    await b.report({ ign: false, spd: 0 });
    await platform.current.dispatchPass!();
    expect((await command(id)).attempts).toBeGreaterThan(0);
    await waitFor(async () => b.firmware.immobilizer.state.engaged, { what: 'the other box engaged' });
    // The disabled device's release is made, and waits for it.
    expect(await releasedBySystem(a)).toBeDefined();
  });

  it('believes only answers signed with the device key: a forged ack changes nothing and is recorded', async () => {
    const b = await desk.stage3Box(6); // its box stays away: the command waits, SENT
    const locate = await api('risk1', 'POST', '/api/commands', {
      deviceId: b.deviceId,
      type: 'locate',
      reason: 'where',
    });
    await waitFor(async () => (await command(locate.body.id)).state === 'SENT', { what: 'SENT' });
    // Someone with the device's broker login but not its command key answers for it.
    const impostor = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: b.deviceId,
      username: b.deviceId,
      password: b.token,
    });
    await impostor.publishAsync(
      `devices/${b.deviceId}/ack`,
      JSON.stringify({ id: locate.body.id, status: 'done' }),
      {
        qos: 1,
      },
    );
    await impostor.publishAsync(
      `devices/${b.deviceId}/ack`,
      JSON.stringify({ id: locate.body.id, status: 'done', sig: 'ab'.repeat(32) }),
      { qos: 1 },
    );
    await impostor.endAsync();
    const refused = await waitFor(
      async () => {
        const entries = await listAudit(platform.db, 0, 10_000);
        const mine = entries.filter(
          (e) => e.action === 'command.ack_refused' && e.subject === `command:${locate.body.id}`,
        );
        return mine.length === 2 ? mine : null;
      },
      { what: 'both forged acks recorded' },
    );
    expect(refused.map((e) => (e.detail as { reason: string }).reason).sort()).toEqual([
      'forged signature',
      'unsigned',
    ]);
    expect((await command(locate.body.id)).state).toBe('SENT');
  });

  it('releases after a cure however many commands came after the immobilize', async () => {
    const b = await box(5);
    await immobilized(b);
    // 55 locates since: more than the 50 commands the dispatcher once looked back at.
    const locates = await Promise.all(
      Array.from({ length: 55 }, (_, i) =>
        api('risk1', 'POST', '/api/commands', { deviceId: b.deviceId, type: 'locate', reason: `where ${i}` }),
      ),
    );
    expect(locates.every((l) => l.status === 201)).toBe(true);
    await cure(b);
    await platform.current.dispatchPass!();
    expect(await releasedBySystem(b)).toBeDefined();
    await waitFor(async () => !b.firmware.immobilizer.state.engaged, { what: 'released on the box' });
  });

  it('asks for a decision after 30 days engaged, again every week, until the machine is released', async () => {
    const b = await box(8);
    const id = await immobilized(b);
    expect((await command(id)).decideBy).toBe(
      new Date(Date.parse((await command(id)).executedAt) + 30 * 24 * 60 * MINUTE).toISOString(),
    );
    const decisions = async () =>
      (await listAudit(platform.db, 0, 100_000)).filter(
        (e) => e.action === 'gps_stop.decision_due' && e.subject === `command:${id}`,
      );
    const openAlert = async () =>
      (
        (await api('risk1', 'GET', `/api/alerts?deviceId=${b.deviceId}&status=open`)).body as {
          kind: string;
          occurrences: number;
        }[]
      ).find((a) => a.kind === 'decision_due');

    clock.advance(29 * 24 * 60 * MINUTE);
    await platform.current.dispatchPass!();
    expect(await decisions()).toHaveLength(0);
    clock.advance(24 * 60 * MINUTE + MINUTE); // 30 days engaged
    await platform.current.dispatchPass!();
    expect(await decisions()).toHaveLength(1);
    expect(await openAlert()).toMatchObject({ kind: 'decision_due', occurrences: 1 });
    await platform.current.dispatchPass!();
    expect(await decisions()).toHaveLength(1); // once, not on every pass
    clock.advance(7 * 24 * 60 * MINUTE); // a week later, still locked
    await platform.current.dispatchPass!();
    expect(await decisions()).toHaveLength(2);
    expect(await openAlert()).toMatchObject({ occurrences: 2 });

    // The decision: release. The alert clears.
    await b.report({ ign: false, spd: 0 });
    const release = await api('risk1', 'POST', '/api/commands', {
      contractId: b.contractId,
      type: 'release',
      reason: 'decided: release, litigate for the arrears',
    });
    await api('risk2', 'POST', `/api/commands/${release.body.id}/approve`, { note: 'agreed' });
    await waitFor(
      async () => {
        await b.report({ ign: false, spd: 0 });
        return (await command(release.body.id)).state === 'EXECUTED';
      },
      { what: 'released', everyMs: 200 },
    );
    await platform.current.dispatchPass!();
    expect(await openAlert()).toBeUndefined();
  });
});
