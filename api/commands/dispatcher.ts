/**
 * The command outbox. All state is in the database, so an api restart loses nothing: on every tick
 * (and at once when something happens — an approval, an ack, a device coming back) it moves open
 * commands along as shared/commands.ts says, asking the policy again before every send; publishes
 * them QoS 1 to `devices/{id}/commands`, resending with backoff until acknowledged or expired;
 * turns acks and telemetry into ACKED / EXECUTED / FAILED; releases machines whose account was
 * cured; and re-arms after an emergency release's window.
 *
 * Several api nodes may run it: each command is handled under its row lock (`skip locked`), and a
 * resend is harmless (the box answers a repeat without acting twice).
 */
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Database, Sql } from '../../db/client.ts';
import { deviceCommandKey, lockDevice } from '../../db/devices.ts';
import {
  type CommandAck,
  executedByTelemetry,
  LIVE_STATES,
  nextStep,
  releaseNeeded,
  signCommand,
  stateAfterAck,
} from '../../shared/commands.ts';
import { evaluate, type PolicyProfile } from '../../shared/policy.ts';
import { parseTopic, topics } from '../../shared/protocol.ts';
import type { CommandFeed } from './feed.ts';
import { profileNamed, requestCommand } from './service.ts';
import {
  type CommandRow,
  contractOfDevice,
  findCommand,
  findCommands,
  moveCommand,
  policyContext,
} from './store.ts';

export interface DispatcherOptions {
  db: Database;
  mqtt: MqttClient;
  feed: CommandFeed;
  profile: PolicyProfile;
  logger: Logger;
  now?: () => number;
  tickMs?: number;
}

export interface Dispatcher {
  /** Runs a full pass soon. */
  kick(): void;
  /** Moves one command along now (after a request or an approval): no waiting for the next tick. */
  dispatchNow(id: string): Promise<void>;
  /** One full pass now; resolves when done (tests). */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

const SYSTEM = { id: 'system', username: 'system', name: 'Platform', roles: [] };

export function startDispatcher(o: DispatcherOptions): Dispatcher {
  const now = o.now ?? Date.now;
  const reconnected = new Set<string>();
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  const onMessage = (topic: string, payload: Buffer) => {
    const t = parseTopic(topic);
    if (!t) return;
    if (t.kind === 'status' && payload.toString() === 'online') {
      reconnected.add(t.deviceId);
      kick();
    } else if (t.kind === 'ack') {
      handleAck(t.deviceId, payload).catch((e) => o.logger.error({ err: e }, 'command ack failed'));
    }
  };
  o.mqtt.on('message', onMessage);
  o.mqtt.subscribe([topics.allAcks, 'devices/+/status'], { qos: 1 });

  async function handleAck(deviceId: string, payload: Buffer): Promise<void> {
    let ack: CommandAck;
    try {
      ack = JSON.parse(payload.toString('utf8')) as CommandAck;
      // A box of the earlier protocol revision answers { id, ok: false, reason }: a refusal.
      const legacy = ack as CommandAck & { ok?: unknown };
      if (legacy.status === undefined && legacy.ok === false) ack = { ...ack, status: 'refused' };
      if (typeof ack?.id !== 'string' || !['accepted', 'done', 'refused'].includes(ack.status))
        throw new Error('shape');
    } catch {
      o.logger.warn({ deviceId, payload: payload.toString('utf8').slice(0, 200) }, 'unreadable command ack');
      return;
    }
    await o.feed.run(async (tx, onTransition) => {
      const c = await findCommand(tx, ack.id, true);
      // An ack for another device's command, or for nothing we sent, changes nothing.
      if (!c || c.deviceId !== deviceId) return;
      const to = stateAfterAck(c.state, ack);
      if (!to) return;
      if (ack.reason) await tx.query('update command set ack_reason = $2 where id = $1', [c.id, ack.reason]);
      const reason =
        to === 'FAILED'
          ? `device refused: ${ack.reason ?? 'no reason given'}`
          : to === 'ACKED'
            ? 'device accepted'
            : 'device carried it out';
      await moveCommand(tx, c, to, { actor: `device:${deviceId}`, reason }, now(), onTransition);
      if (to === 'EXECUTED') await afterExecuted(tx, { ...c, state: to });
    });
  }

  async function afterExecuted(tx: Sql, c: CommandRow): Promise<void> {
    if (c.type === 'release' && c.emergency) {
      const p = profileNamed(c.profile);
      await tx.query('update command set rearm_at = $2 where id = $1', [
        c.id,
        new Date(now() + p.emergencyReleaseHours * 3_600_000).toISOString(),
      ]);
    }
  }

  /** Moves one open command as far as it goes now (queue and send in one pass). */
  async function advance(id: string, back: ReadonlySet<string> = reconnected): Promise<void> {
    let publish: { topic: string; payload: string } | null = null;
    await o.feed.run(async (tx, onTransition) => {
      const { rows } = await tx.query<{ id: string }>(
        'select id from command where id = $1 for update skip locked',
        [id],
      );
      if (rows.length === 0) return; // another node has it
      let c = (await findCommand(tx, id)) as CommandRow;
      // One evaluation for the whole pass: queueing and sending happen at the same moment.
      const p = profileNamed(c.profile);
      const t = now();
      const evaluation = evaluate(
        { type: c.type, requestedBy: c.requestedBy },
        await policyContext(tx, c, p, t),
      );
      for (let i = 0; i < 3; i++) {
        const step = nextStep(c, evaluation, t, back.has(c.deviceId));
        const policy = { ...evaluation, profile: p.id };
        if (step.kind === 'wait') return;
        if (step.kind === 'expire') {
          await moveCommand(
            tx,
            c,
            'EXPIRED',
            { actor: 'system', reason: 'validity ran out', policy },
            t,
            onTransition,
          );
          return;
        }
        if (step.kind === 'cancel') {
          await moveCommand(
            tx,
            c,
            'CANCELLED',
            { actor: 'policy', reason: step.reason, policy },
            t,
            onTransition,
          );
          return;
        }
        if (step.kind === 'queue') {
          c = await moveCommand(
            tx,
            c,
            'QUEUED',
            { actor: 'system', reason: 'policy allows sending', policy },
            t,
            onTransition,
          );
          continue;
        }
        // send
        const key = (await deviceCommandKey(tx, c.deviceId))?.commandKey;
        if (!key) {
          await moveCommand(
            tx,
            c,
            'FAILED',
            { actor: 'system', reason: 'device has no command key' },
            t,
            onTransition,
          );
          return;
        }
        const issuedAt = c.issuedAt ?? t;
        const nonce = c.nonce ?? randomBytes(16).toString('hex');
        const signed = signCommand(
          { id: c.id, deviceId: c.deviceId, type: c.type, issuedAt, expiresAt: c.expiresAt, nonce },
          key,
        );
        await tx.query(
          `update command set issued_at = $2, nonce = $3, signature = $4, attempts = attempts + 1, last_sent_at = $5
           where id = $1`,
          [c.id, new Date(issuedAt).toISOString(), nonce, signed.sig, new Date(t).toISOString()],
        );
        if (c.state === 'QUEUED') {
          const reason = 'published to the device';
          c = await moveCommand(tx, c, 'SENT', { actor: 'system', reason, policy }, t, onTransition);
        }
        publish = { topic: topics.commands(c.deviceId), payload: JSON.stringify(signed) };
        return;
      }
    });
    // Published after the commit: a crash in between means a resend later, never a send unrecorded.
    if (publish) {
      const { topic, payload } = publish as { topic: string; payload: string };
      await o.mqtt.publishAsync(topic, payload, { qos: 1 }).catch((e: Error) => {
        o.logger.warn({ err: e.message, topic }, 'command publish failed; it will be resent');
      });
    }
  }

  /** ACKED relay commands become EXECUTED when the machine's own telemetry shows it. */
  async function confirmByTelemetry(): Promise<void> {
    const { rows } = await o.db.query<{
      id: string;
      rly: boolean | null;
      ign: boolean | null;
      spd: number | null;
    }>(
      `select c.id, lp.rly, lp.ign, lp.spd from command c join latest_position lp on lp.device_id = c.device_id
       where c.state = 'ACKED' and c.type in ('immobilize', 'release') and lp.received_at >= c.last_sent_at`,
    );
    for (const r of rows) {
      await o.feed.run(async (tx, onTransition) => {
        const c = await findCommand(tx, r.id, true);
        if (!c || !executedByTelemetry(c.type, c.state, r)) return;
        const reason =
          c.type === 'immobilize'
            ? 'telemetry: relay engaged, machine standing, ignition off'
            : 'telemetry: relay open';
        await moveCommand(tx, c, 'EXECUTED', { actor: `device:${c.deviceId}`, reason }, now(), onTransition);
        await afterExecuted(tx, { ...c, state: 'EXECUTED' });
      });
    }
  }

  /** A cured account's machine is released without approval. */
  async function releaseCured(): Promise<void> {
    // Candidates in one query (the cached stage of the machine's active contract); each is then
    // checked properly, under a lock, by the same rule the property tests hold.
    const { rows } = await o.db.query<{ device_id: string }>(
      `with last_sent as (
         select distinct on (device_id) device_id, seq, state from command
         where type = 'immobilize' and attempts > 0 order by device_id, seq desc)
       select l.device_id from last_sent l
       left join installation i on i.device_id = l.device_id and i.removed_at is null
       left join contract c on c.machine_id = i.machine_id and c.status = 'active'
       where l.state <> 'FAILED' and coalesce(c.stage, 0) < $1
         and not exists (select 1 from command r where r.device_id = l.device_id and r.type = 'release'
                         and r.seq > l.seq and r.state not in ('FAILED', 'EXPIRED', 'CANCELLED', 'REJECTED'))`,
      [o.profile.minStage],
    );
    for (const { device_id: deviceId } of rows) {
      await o.feed.run(async (tx, onTransition) => {
        await lockDevice(tx, deviceId);
        const history = await findCommands(tx, { deviceId, limit: 50 });
        const contractId = await contractOfDevice(tx, deviceId);
        const ctx = await policyContext(tx, { id: '', deviceId, contractId }, o.profile, now());
        const stage = ctx.account?.stage ?? null;
        if (!releaseNeeded(history, stage, o.profile.minStage)) return;
        await requestCommand(
          tx,
          {
            deviceId,
            type: 'release',
            reason: `account no longer at stage ${o.profile.minStage} (now ${stage ?? 'no contract'})`,
          },
          SYSTEM,
          now(),
          { profile: o.profile, onTransition },
        );
      });
    }
  }

  /** After an emergency release's window, the immobilizer re-arms if the account is still uncured. */
  async function rearm(): Promise<void> {
    const { rows } = await o.db.query<{ id: string }>(
      `select id from command where type = 'release' and emergency and state = 'EXECUTED' and rearm_at <= $1`,
      [new Date(now()).toISOString()],
    );
    for (const { id } of rows) {
      await o.feed.run(async (tx, onTransition) => {
        const release = await findCommand(tx, id, true);
        if (!release?.rearmAt) return;
        await tx.query('update command set rearm_at = null where id = $1', [id]);
        const { rows: prior } = await tx.query<{ id: string }>(
          `select id from command where device_id = $1 and type = 'immobilize' and seq < $2 and attempts > 0
           order by seq desc limit 1`,
          [release.deviceId, release.seq],
        );
        const later = await findCommands(tx, {
          deviceId: release.deviceId,
          states: [...LIVE_STATES, 'EXECUTED'],
        });
        if (!prior[0] || later.some((c) => c.seq > release.seq)) return;
        const { command } = await requestCommand(
          tx,
          { deviceId: release.deviceId, type: 'immobilize', reason: `re-arm after emergency release ${id}` },
          SYSTEM,
          now(),
          { profile: profileNamed(release.profile), onTransition },
        );
        if (command.state !== 'REQUESTED') return;
        // The approvals of the immobilize that the emergency release interrupted carry over.
        await tx.query(
          `insert into command_approval (command_id, by_user, roles, decision, note, at)
           select $1, by_user, roles, decision, 'carried over from ' || command_id, at from command_approval
           where command_id = $2 and decision = 'approve'`,
          [command.id, prior[0].id],
        );
        await moveCommand(
          tx,
          command,
          'APPROVED',
          { actor: 'system', reason: `approvals of ${prior[0].id} carried over` },
          now(),
          onTransition,
        );
      });
    }
  }

  /**
   * The commands that may have something to do now: approved or queued ones; requested ones that
   * need no approval; sent ones whose resend is due (5 s at the earliest) or whose device just came
   * back; and anything past its validity. A command waiting for a person is left alone.
   */
  async function due(): Promise<string[]> {
    const t = now();
    const { rows } = await o.db.query<{ id: string }>(
      `select id from command
       where state in ('APPROVED', 'QUEUED')
          or (state = 'REQUESTED' and type <> 'immobilize' and not emergency)
          or (state = 'SENT' and (last_sent_at <= $1 or device_id = any($2::text[])))
          or (state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT') and expires_at <= $3)
          or (state = 'ACKED' and type not in ('immobilize') and expires_at <= $3)
       order by seq`,
      [new Date(t - 5_000).toISOString(), [...reconnected], new Date(t).toISOString()],
    );
    return rows.map((r) => r.id);
  }

  async function pass(): Promise<void> {
    await confirmByTelemetry();
    await releaseCured();
    await rearm();
    const back = new Set(reconnected);
    const ids = await due();
    for (const d of back) reconnected.delete(d);
    for (const id of ids) await advance(id, back);
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((e) => o.logger.error({ err: e }, 'command dispatch pass failed'))
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          kick();
        }
      });
  }

  const timer = setInterval(kick, o.tickMs ?? 2_000);
  timer.unref();
  kick();

  return {
    kick,
    dispatchNow: (id) => advance(id).catch((e) => o.logger.error({ err: e, id }, 'command dispatch failed')),
    async pass() {
      while (running) await running;
      await pass();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      o.mqtt.off('message', onMessage);
      while (running) await running;
    },
  };
}
