/**
 * The dispatcher's sweeps and the api's schedules on two api nodes at once, in the worst
 * interleaving: both nodes have read what is due, and both reach the point where it is written at
 * the same moment. A third connection holds the lock that point needs until both nodes wait on it
 * (pg_stat_activity says so), then lets go. Whatever a node read before, what is done is done once:
 * a GPS stop confirmed by telemetry, a decision-due alert raised and repeated, an emergency
 * release's re-arm, the release on a cure, the daily recomputation of a stage, a silence alert.
 *
 * One machine's story drives it, through the real api (its routes, called as the people would), the
 * dispatcher's own steps on each node's connection pool, ingest's store for the box's reports, and
 * a box running the reference firmware; the clock is the test's.
 *
 * Needs PostgreSQL (DATABASE_URL): PGlite is one process and one connection, so there is no second
 * node. Skipped without it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseSilentAlerts } from '../../api/alerts/silence.ts';
import { appendAudit } from '../../api/audit/log.ts';
import { raiseDecisionsDue } from '../../api/commands/decisions.ts';
import {
  advanceCommand,
  applyAck,
  confirmByTelemetry,
  rearm,
  releaseCured,
  type StepContext,
} from '../../api/commands/dispatch-steps.ts';
import { commandFeed } from '../../api/commands/feed.ts';
import { profileNamed } from '../../api/commands/service.ts';
import { dueCommands } from '../../api/commands/store.ts';
import { refreshDueAccounts } from '../../api/contracts/scheduler.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import { classify } from '../../ingest/classify.ts';
import { createLocationRules } from '../../ingest/rules/evaluate.ts';
import { rejectUnknownDevices, writeBatch } from '../../ingest/store.ts';
import { localDate } from '../../shared/calendar-date.ts';
import type { CommandAck } from '../../shared/commands.ts';
import { topics } from '../../shared/protocol.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';
import { Epoch } from '../safety/rig.ts';
import { openNodeDatabase, PROFILE } from '../support/dispatch-nodes.ts';
import { realDatabase, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${randomBytes(3).toString('hex')}`;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Node {
  name: string;
  db: Database;
  steps: StepContext;
}

interface Machine {
  deviceId: string;
  contractId: string;
  box: BoxFirmware;
}

describe.skipIf(!realDatabase)('sweeps and schedules on two api nodes', () => {
  let scratch: ScratchDatabase;
  let db: Database;
  let epoch: Epoch;
  const clock = { now: Date.now() };
  const location = createLocationRules();
  const nodes: Node[] = [];
  let one: Machine;
  let two: Machine;

  beforeAll(async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
    epoch = new Epoch(db, clock);
    await epoch.open();
    for (const n of ['a', 'b']) {
      const name = `sweeps-${n}-${run}`;
      const nodeDb = await openNodeDatabase(scratch.url!, name);
      const feed = commandFeed(nodeDb, () => {}, appendAudit);
      nodes.push({ name, db: nodeDb, steps: { db: nodeDb, feed, now: () => clock.now } });
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.db.close();
    await epoch?.close();
    await db?.close();
    await scratch?.drop();
  });

  /**
   * Both nodes run `step` while a third connection holds what `lock` locks; once both wait on a
   * lock, it lets go. Resolves with both nodes' results.
   */
  async function raced<T>(lock: string, params: unknown[], step: (n: Node) => Promise<T>): Promise<T[]> {
    const blocker = new pg.Client({ connectionString: scratch.url });
    await blocker.connect();
    try {
      await blocker.query('begin');
      await blocker.query(lock, params);
      const runs = nodes.map(step);
      await waitFor(
        async () =>
          (await count(
            `select count(*) as n from pg_stat_activity where application_name = any($1) and wait_event_type = 'Lock'`,
            [nodes.map((n) => n.name)],
          )) === nodes.length,
        { what: 'both nodes waiting at the lock' },
      );
      await blocker.query('commit');
      return await Promise.all(runs);
    } finally {
      await blocker.end();
    }
  }

  const count = async (sql: string, params: unknown[]) =>
    Number((await db.query<{ n: string }>(sql, params)).rows[0]?.n);
  const call = async (who: string, method: string, url: string, body?: unknown) => {
    const r = await epoch.call(who, method, url, body);
    expect(r.status, `${method} ${url}: ${JSON.stringify(r.body)}`).toBeLessThan(300);
    return r.body;
  };

  /** A machine on a loan four instalments behind, its box provisioned, GPS-stop warnings served. */
  async function machine(n: number): Promise<Machine> {
    const deviceId = `SWEEP${run}-${n}`;
    const token = randomBytes(16).toString('hex');
    const machineId = `M${deviceId}`;
    await provisionDevices(db, [
      {
        deviceId,
        token,
        machine: {
          id: machineId,
          make: 'Sany',
          model: 'SY215C',
          type: 'excavator',
          serial: `P${deviceId}`,
          year: 2023,
        },
      },
    ]);
    const made = await call('admin', 'POST', '/api/contracts', {
      number: `L-${deviceId}`,
      kind: 'loan',
      principal: 3_600_000,
      startDate: new Date(clock.now - 118 * DAY).toISOString().slice(0, 10),
      termMonths: 24,
      customer: { name: '测试客户' },
      machineId,
    });
    for (const channel of ['sms', 'letter']) {
      await call('c1', 'POST', `/api/contracts/${made.id}/activities`, {
        kind: 'gps_stop_warning',
        channel,
        occurredAt: new Date(clock.now).toISOString(),
        body: 'GPS stop will follow if the arrears are not paid',
      });
    }
    return { deviceId, contractId: made.id, box: new BoxFirmware(deviceId, token) };
  }

  /** What is due is sent (by node A), the box answers, the answer is applied. */
  async function dispatch(m: Machine): Promise<void> {
    const steps = nodes[0]!.steps;
    for (const { id, deviceId } of await dueCommands(db, clock.now, [])) {
      const p = await advanceCommand(steps, id, new Set());
      if (p && deviceId === m.deviceId) {
        const ack = m.box.onCommand(JSON.parse(p.payload), clock.now);
        await applyAck(steps, deviceId, ack as unknown as CommandAck);
      }
    }
  }

  /** A second later, the box reports the machine standing with the ignition off; ingest stores it. */
  async function reportParked(m: Machine): Promise<void> {
    clock.now += 1_000;
    const report = m.box.report({
      v: 1,
      ts: clock.now,
      lat: 30.5,
      lon: 114.3,
      fix: true,
      ign: false,
      spd: 0,
    });
    const batch = classify(topics.telemetry(m.deviceId), Buffer.from(JSON.stringify(report)), clock.now, {
      maxPayloadBytes: 65_536,
      maxClockSkewMs: 300_000,
    });
    // As the ingest worker does: the batch, then the location rules (which keep the box's last word).
    await db.transaction(async (tx) => {
      const known = await rejectUnknownDevices(tx, batch);
      await writeBatch(tx, known);
      await location.evaluate(tx, known.telemetry);
    });
  }

  const commandsOf = async (m: Machine) =>
    (
      await db.query<{ id: string; type: string; state: string; requested_by: string; reason: string }>(
        'select id, type, state, requested_by, reason from command where device_id = $1 order by seq',
        [m.deviceId],
      )
    ).rows;
  const transitionsTo = (id: string, state: string) =>
    count('select count(*) as n from command_transition where command_id = $1 and to_state = $2', [
      id,
      state,
    ]);

  async function immobilize(m: Machine): Promise<string> {
    const asked = await call('r1', 'POST', '/api/commands', {
      contractId: m.contractId,
      type: 'immobilize',
      reason: 'stage 3',
    });
    await call('r2', 'POST', `/api/commands/${asked.id}/approve`, { note: 'checked' });
    await reportParked(m); // heard from just now, as the policy wants before a send
    await dispatch(m);
    expect((await commandsOf(m)).find((c) => c.id === asked.id)?.state).toBe('ACKED');
    await reportParked(m);
    return asked.id as string;
  }

  it('a GPS stop shown by telemetry is EXECUTED once', async () => {
    one = await machine(1);
    two = await machine(2);
    clock.now += 73 * HOUR; // the warnings have stood 72 h
    const id = await immobilize(one);
    await raced('select id from command where id = $1 for update', [id], (n) => confirmByTelemetry(n.steps));
    expect(await transitionsTo(id, 'EXECUTED')).toBe(1);
  });

  it("an emergency release's window ends: the immobilizer re-arms once", async () => {
    const stop = await immobilize(two);
    await confirmByTelemetry(nodes[0]!.steps);
    const asked = await call('r1', 'POST', '/api/commands', {
      contractId: two.contractId,
      type: 'release',
      reason: 'emergency: a hospital run',
    });
    await call('r2', 'POST', `/api/commands/${asked.id}/approve`, { note: 'seen' });
    await dispatch(two);
    await reportParked(two); // released: the relay is open
    await confirmByTelemetry(nodes[0]!.steps);
    expect((await commandsOf(two)).map((c) => [c.type, c.state])).toEqual([
      ['immobilize', 'EXECUTED'],
      ['release', 'EXECUTED'],
    ]);
    clock.now += PROFILE.emergencyReleaseHours * HOUR + 60_000;
    await raced('select id from command where id = $1 for update', [asked.id], (n) => rearm(n.steps));
    const rearmed = (await commandsOf(two)).filter((c) => c.reason.startsWith('re-arm'));
    expect(rearmed).toHaveLength(1);
    expect(rearmed[0]).toMatchObject({ type: 'immobilize', state: 'APPROVED', requested_by: 'system' });
    void stop;
  });

  it('a stop engaged for 30 days raises one decision-due alert, and one repeat a week later', async () => {
    clock.now += PROFILE.decisionDays * DAY + HOUR;
    const decide = (n: Node) => raiseDecisionsDue(n.db, n.steps.feed, profileNamed, clock.now);
    // The first raise: both insert, the open-alert unique index keeps one.
    await raced('lock table alert in exclusive mode', [], decide);
    const alert = async () =>
      (
        await db.query<{ id: string; occurrences: number }>(
          `select id::text, occurrences from alert where kind = 'decision_due' and device_id = $1 and status = 'open'`,
          [one.deviceId],
        )
      ).rows;
    expect(await alert()).toEqual([{ id: expect.any(String), occurrences: 1 }]);
    clock.now += PROFILE.decisionRepeatDays * DAY + HOUR;
    const [open] = await alert();
    await raced('select id from alert where id = $1 for update', [open!.id], decide);
    expect((await alert())[0]?.occurrences).toBe(2);
    expect(
      await count(
        `select count(*) as n from audit_log where action = 'gps_stop.decision_due' and detail->>'deviceId' = $1`,
        [one.deviceId],
      ),
    ).toBe(2);
  });

  it('a cure releases the machine once', async () => {
    const view = await call('admin', 'GET', `/api/contracts/${one.contractId}`);
    const amount = (view.instalments as { status: string; unpaid: number }[])
      .filter((i) => i.status === 'overdue')
      .reduce((sum, i) => sum + i.unpaid, 0);
    const reference = `CURE-${one.deviceId}`;
    const paid = await call('c1', 'POST', `/api/contracts/${one.contractId}/payments`, {
      date: localDate(clock.now, 'Asia/Shanghai'),
      amount,
      reference,
    });
    if (paid.awaitingConfirmation)
      await call('r2', 'POST', `/api/contracts/${one.contractId}/payments/${reference}/confirm`, {});
    await raced('select id from device where id = $1 for update', [one.deviceId], (n) =>
      releaseCured(n.steps, PROFILE),
    );
    const releases = (await commandsOf(one)).filter((c) => c.type === 'release');
    expect(releases).toHaveLength(1);
    expect(releases[0]).toMatchObject({ requested_by: 'system' });
  });

  it("a new day's stage is recorded once", async () => {
    clock.now += 40 * DAY; // the next instalment falls due unpaid
    const results = await raced('select id from contract where id = $1 for update', [one.contractId], (n) =>
      refreshDueAccounts(n.db, clock.now),
    );
    const changes = results.flatMap((r) => r.changes).filter((c) => c.contractId === one.contractId);
    expect(changes).toHaveLength(1);
    expect(
      await count(
        `select count(*) as n from stage_change where contract_id = $1 and reason = 'daily recomputation'`,
        [one.contractId],
      ),
    ).toBe(1);
  });

  it('a box silent for too long gets one silence alert', async () => {
    // Machine two's box last reported before the 40 days of the test above.
    const raised = await raced('lock table alert in exclusive mode', [], (n) =>
      raiseSilentAlerts(n.db, clock.now),
    );
    expect(raised.flat().filter((a) => a.deviceId === two.deviceId)).toHaveLength(1);
    expect(
      await count(`select count(*) as n from alert where kind = 'silent' and device_id = $1`, [two.deviceId]),
    ).toBe(1);
  });
});
