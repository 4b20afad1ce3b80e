/**
 * Remote disable end to end through the broker (embedded aedes, or Mosquitto with MQTT_URL): risk
 * manager A requests, B approves, the dispatcher signs and publishes, the simulated box (the fleet's
 * firmware model) accepts, arms, engages once the machine stands with the ignition off, and the
 * platform sees EXECUTED in telemetry — visible in the API and pushed over socket.io. A payment
 * that cures the account releases the machine without anyone asking; a device that was offline
 * gets its command when it comes back.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandUpdate, ServerToClientEvents } from '../../shared/live.ts';
import { type CommandDesk, type DeskBox, openCommandDesk } from '../support/command-desk.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;

describe(`remote disable on ${engineName}`, () => {
  let platform: TestPlatform;
  let desk: CommandDesk;
  let socket: Socket<ServerToClientEvents>;
  const updates: CommandUpdate[] = [];

  const api: CommandDesk['api'] = (...args) => desk.api(...args);
  /** A provisioned box on a stage-3 machine, warned 4 days ago by SMS and letter (or not). */
  const prepare = async (n: number, options: { warned?: boolean } = {}) => {
    const box = await desk.stage3Box(n, options);
    return { contractId: box.contractId, box };
  };

  const report = (box: DeskBox, machine: { ign: boolean; spd: number }) => {
    const ts = Date.now();
    box.device.publishTelemetry(
      box.firmware.report({ v: 1, ts, lat: 34.2, lon: 117.2, fix: true, ...machine }),
    );
    return ts;
  };
  /** Waits until the platform has stored the report made at `ts` (or a later one). */
  const reportStored = (box: DeskBox, ts: number) =>
    waitFor(
      async () =>
        (
          await platform.db.query('select 1 from latest_position where device_id = $1 and ts >= $2', [
            box.deviceId,
            new Date(ts).toISOString(),
          ])
        ).rows.length > 0,
      { what: 'the report stored' },
    );

  beforeAll(async () => {
    platform = await startTestPlatform();
    desk = await openCommandDesk(
      platform,
      {
        risk1: 'risk_manager',
        risk2: 'risk_manager',
        collector: 'collector',
        admin: 'admin',
        agent: 'recovery_agent',
      },
      `CMD${run}`,
    );
    socket = io(platform.url, { transports: ['websocket'], auth: { token: desk.token('agent') } });
    socket.on('commands:update', (u) => updates.push(...u));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
  });
  afterAll(async () => {
    socket?.close();
    await desk?.close();
    await platform?.teardown();
  });

  it('request by A, approval by B, accepted by the box, EXECUTED only once the machine stands — pushed live', async () => {
    const { contractId, box } = await prepare(1);
    box.device.start();
    report(box, { ign: true, spd: 0 }); // working on site
    await waitFor(
      async () =>
        (await platform.db.query('select 1 from latest_position where device_id = $1', [box.deviceId])).rows
          .length > 0,
      {
        what: 'first report stored',
      },
    );

    const requested = await api('risk1', 'POST', '/api/commands', {
      contractId,
      type: 'immobilize',
      reason: 'stage 3, warned twice',
    });
    expect(requested.status, JSON.stringify(requested.body)).toBe(201);
    expect(requested.body.state).toBe('REQUESTED');
    expect(requested.body.evaluation.decision).toBe('wait');
    expect(requested.body.evaluation.missing.join(' ')).toMatch(/second risk manager/);
    expect(requested.body.evaluation.reasons.join(' ')).toMatch(
      /warned at least 72 h before through letter, sms/,
    );
    const id = requested.body.id as string;

    const self = await api('risk1', 'POST', `/api/commands/${id}/approve`, { note: 'me too' });
    expect(self.status).toBe(403);
    const byCollector = await api('collector', 'POST', `/api/commands/${id}/approve`, {});
    expect(byCollector.status).toBe(403);
    const second = await api('risk1', 'POST', '/api/commands', {
      contractId,
      type: 'immobilize',
      reason: 'again',
    });
    expect(second.status).toBe(409);

    const approved = await api('risk2', 'POST', `/api/commands/${id}/approve`, { note: 'checked the file' });
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    await waitFor(async () => (await api('agent', 'GET', `/api/commands/${id}`)).body.state === 'ACKED', {
      what: 'ACKED',
    });
    expect(box.firmware.immobilizer.state).toEqual({ armed: true, engaged: false });

    const working = report(box, { ign: true, spd: 0 }); // still working: the engine is never stopped
    await reportStored(box, working);
    await platform.current.dispatchPass!();
    expect((await api('agent', 'GET', `/api/commands/${id}`)).body.state).toBe('ACKED');

    report(box, { ign: false, spd: 0 }); // the operator switches off: the interrupt engages
    expect(box.firmware.immobilizer.state.engaged).toBe(true);
    await waitFor(async () => (await api('agent', 'GET', `/api/commands/${id}`)).body.state === 'EXECUTED', {
      what: 'EXECUTED',
      timeoutMs: 15_000,
    });
    const done = await api('agent', 'GET', `/api/commands/${id}`);
    expect(done.body.transitions.map((t: { to: string }) => t.to)).toEqual([
      'REQUESTED',
      'APPROVED',
      'QUEUED',
      'SENT',
      'ACKED',
      'EXECUTED',
    ]);
    expect(done.body.transitions[1]).toMatchObject({ actor: expect.stringMatching(/^risk-manager-/) });
    // Every transition is in the audit chain, in order.
    const { rows: audited } = await platform.db.query<{ action: string }>(
      'select action from audit_log where subject = $1 order by seq',
      [`command:${id}`],
    );
    expect(audited.map((a) => a.action)).toEqual(
      done.body.transitions.map((t: { to: string }) => `command.${t.to.toLowerCase()}`),
    );
    await waitFor(async () => updates.some((u) => u.commandId === id && u.to === 'EXECUTED'), {
      what: 'live EXECUTED',
    });
    expect(updates.filter((u) => u.commandId === id).map((u) => u.to)).toEqual(
      done.body.transitions.map((t: { to: string }) => t.to),
    );

    report(box, { ign: true, spd: 0 }); // trying to start: refused
    expect(
      box.firmware.report({ v: 1, ts: Date.now(), lat: 34.2, lon: 117.2, ign: true, spd: 5 }),
    ).toMatchObject({ ign: false, spd: 0, rly: true });

    // The customer pays everything overdue; booked by hand during a GPS stop, the payment counts
    // once a second person confirms it, and then the machine is released without anyone asking.
    const pay = await api('collector', 'POST', `/api/contracts/${contractId}/payments`, {
      date: new Date().toISOString().slice(0, 10),
      amount: 3_600_000,
      reference: `CURE-${run}`,
    });
    expect(pay.status).toBe(200);
    expect(pay.body).toMatchObject({ awaitingConfirmation: true });
    expect(pay.body.contract.overdue.stage).toBe(3);
    const confirmed = await api(
      'risk2',
      'POST',
      `/api/contracts/${contractId}/payments/CURE-${run}/confirm`,
      {
        note: 'bank receipt seen',
      },
    );
    expect(confirmed.status).toBe(200);
    expect(confirmed.body.contract.overdue.stage).toBe(0);
    await waitFor(async () => !box.firmware.immobilizer.state.armed, {
      what: 'released on the box',
      timeoutMs: 20_000,
    });
    await waitFor(
      async () => {
        report(box, { ign: false, spd: 0 }); // the box reports on; its relay is open now
        const list = await api('agent', 'GET', `/api/commands?deviceId=${box.deviceId}`);
        return list.body.some(
          (c: { type: string; state: string; requestedBy: string }) =>
            c.type === 'release' && c.state === 'EXECUTED' && c.requestedBy === 'system',
        );
      },
      { what: 'release EXECUTED', timeoutMs: 15_000, everyMs: 500 },
    );
  });

  it('refuses without warnings, and an offline box gets its command when it returns', async () => {
    const { contractId, box } = await prepare(2, { warned: false });
    const refused = await api('risk1', 'POST', '/api/commands', {
      contractId,
      type: 'immobilize',
      reason: 'no warning yet',
    });
    expect(refused.status).toBe(201);
    expect(refused.body.evaluation.decision).toBe('wait');
    expect(refused.body.evaluation.missing.join(' ')).toMatch(/GPS-stop warning through 2 channels/);
    const approved = await api('risk2', 'POST', `/api/commands/${refused.body.id}/approve`, {});
    expect(approved.body.state).toBe('APPROVED'); // approved, but held back: nothing goes out
    await platform.current.dispatchPass!();
    expect((await api('agent', 'GET', `/api/commands/${refused.body.id}`)).body).toMatchObject({
      state: 'APPROVED',
      attempts: 0,
    });
    expect(
      (await api('risk1', 'POST', `/api/commands/${refused.body.id}/cancel`, { reason: 'warn first' })).body
        .state,
    ).toBe('CANCELLED');

    // The box has connected once (persistent session) and is now away.
    box.device.start();
    await waitFor(async () => box.device.stats().connects > 0, { what: 'box connected' });
    report(box, { ign: false, spd: 0 });
    await waitFor(
      async () =>
        (await platform.db.query('select 1 from latest_position where device_id = $1', [box.deviceId])).rows
          .length > 0,
      {
        what: 'report stored',
      },
    );
    await box.device.stop();
    const locate = await api('risk1', 'POST', '/api/commands', {
      deviceId: box.deviceId,
      type: 'locate',
      reason: 'where is it',
    });
    expect(locate.status).toBe(201);
    await waitFor(
      async () => (await api('agent', 'GET', `/api/commands/${locate.body.id}`)).body.state === 'SENT',
      { what: 'SENT' },
    );
    expect(box.firmware.immobilizer.events.filter((e) => e.kind === 'located')).toEqual([]);

    const back = box.reconnect();
    back.start();
    await waitFor(
      async () => (await api('agent', 'GET', `/api/commands/${locate.body.id}`)).body.state === 'EXECUTED',
      {
        what: 'EXECUTED after reconnect',
        timeoutMs: 20_000,
      },
    );
    expect(box.firmware.immobilizer.events.filter((e) => e.kind === 'located')).toHaveLength(1);
  });

  it('answers bad requests with 4xx and a reason', async () => {
    expect((await api('risk1', 'POST', '/api/commands', { type: 'immobilize', reason: 'x' })).status).toBe(
      400,
    );
    expect(
      (
        await api('risk1', 'POST', '/api/commands', {
          deviceId: 'nope',
          type: 'immobilize',
          reason: 'nothing',
        })
      ).status,
    ).toBe(404);
    expect(
      (
        await api('collector', 'POST', '/api/commands', {
          deviceId: 'nope',
          type: 'locate',
          reason: 'nothing',
        })
      ).status,
    ).toBe(403);
    expect((await api('risk1', 'POST', '/api/commands/nope/approve', {})).status).toBe(404);
  });
});
