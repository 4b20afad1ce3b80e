/**
 * The dispatcher's steps, each one transaction's worth of work on the command outbox and each
 * callable alone (a test gives it a database, a feed and a clock): reading a device's ack, applying
 * it, confirming relay commands by telemetry, releasing cured accounts, re-arming after an
 * emergency release, and moving one command along (queue, send). dispatcher.ts runs them on a
 * timer and on events; publishing to the broker stays there, after the commit.
 */
import { randomBytes } from 'node:crypto';
import type { Database, Sql } from '../../db/client.ts';
import { deviceCommandKey, lockDevice, nextCommandCounter } from '../../db/devices.ts';
import { keyring, openCommandKey } from '../../db/keys.ts';
import {
  ackSignatureMatches,
  type CommandAck,
  executedByTelemetry,
  LIVE_STATES,
  nextStep,
  releaseNeeded,
  signCommand,
  stateAfterAck,
} from '../../shared/commands.ts';
import { evaluate, type PolicyProfile } from '../../shared/policy.ts';
import { topics } from '../../shared/protocol.ts';
import type { CommandFeed } from './feed.ts';
import { profileNamed, requestCommand } from './service.ts';
import {
  ackedRelayCommandsWithNewTelemetry,
  type CommandRow,
  carryOverApprovals,
  contractOfDevice,
  findCommand,
  findCommands,
  lastSentImmobilizeBefore,
  lockCommand,
  moveCommand,
  policyContext,
  rearmsDue,
  recordAckReason,
  recordSend,
  releaseCandidates,
  setRearmAt,
  type TransitionListener,
} from './store.ts';

/** What every step works with. */
export interface StepContext {
  db: Database;
  feed: CommandFeed;
  now: () => number;
  /**
   * Told of one command's or one device's failure. A step goes on with the others: one bad row
   * never holds back another machine's release. Default: rethrow.
   */
  failed?: (err: unknown, where: { step: string; id: string }) => void;
}

/** Runs one item of a step; its failure is reported and the step goes on with the next. */
async function isolated(ctx: StepContext, step: string, id: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (!ctx.failed) throw e;
    ctx.failed(e, { step, id });
  }
}

/** A signed command to publish once its transaction has committed. */
export interface Publication {
  topic: string;
  payload: string;
}

const SYSTEM = {
  id: 'system',
  username: 'system',
  name: 'Platform',
  roles: [],
  scope: { kind: 'all' as const },
};

/**
 * A device's ack as the box sent it, or null when it is unreadable. A box of the earlier protocol
 * revision answers { id, ok: false, reason }: read as a refusal, then refused as unsigned (applyAck).
 */
export function readAck(payload: Buffer): CommandAck | null {
  try {
    let ack = JSON.parse(payload.toString('utf8')) as CommandAck;
    const legacy = ack as CommandAck & { ok?: unknown };
    if (legacy.status === undefined && legacy.ok === false) ack = { ...ack, status: 'refused' };
    if (typeof ack?.id !== 'string' || !['accepted', 'done', 'refused'].includes(ack.status)) return null;
    return ack;
  } catch {
    return null;
  }
}

/**
 * Moves the acknowledged command to ACKED, EXECUTED or FAILED as the ack says. An ack not signed
 * with the device's key changes nothing and goes to the audit chain: whoever can publish on the
 * device's topic without its key (a cloned token, a tool on the broker) cannot fake an answer.
 */
export async function applyAck(ctx: StepContext, deviceId: string, ack: CommandAck): Promise<void> {
  await ctx.feed.run(async (tx, onTransition, record) => {
    const c = await findCommand(tx, ack.id, true);
    // An ack for another device's command, or for nothing we sent, changes nothing.
    if (!c || c.deviceId !== deviceId) return;
    const stored = (await deviceCommandKey(tx, deviceId))?.commandKey;
    const key = stored ? openCommandKey(keyring(ctx.db), deviceId, stored) : null;
    if (!key || !ackSignatureMatches(ack, key)) {
      await record({
        actor: `device:${deviceId}`,
        action: 'command.ack_refused',
        subject: `command:${c.id}`,
        detail: { reason: ack.sig ? 'forged signature' : 'unsigned', status: ack.status },
      });
      return;
    }
    const to = stateAfterAck(c.state, ack, c.type);
    if (!to) return;
    if (ack.reason) await recordAckReason(tx, c.id, ack.reason);
    const reason =
      to === 'FAILED'
        ? `device refused: ${ack.reason ?? 'no reason given'}`
        : to === 'ACKED'
          ? 'device accepted'
          : 'device carried it out';
    await moveCommand(tx, c, to, { actor: `device:${deviceId}`, reason }, ctx.now(), onTransition);
    if (to === 'EXECUTED') await afterExecuted(tx, { ...c, state: to }, ctx.now(), onTransition);
  });
}

/** An executed emergency release sets the time the immobilizer re-arms if still uncured. */
async function afterExecuted(
  tx: Sql,
  c: CommandRow,
  now: number,
  onTransition: TransitionListener,
): Promise<void> {
  if (c.type !== 'release') return;
  // The box is disarmed: an earlier immobilize it took on but never engaged is over.
  for (const armed of await findCommands(tx, {
    deviceId: c.deviceId,
    types: ['immobilize'],
    states: ['ACKED'],
  })) {
    if (armed.seq > c.seq) continue;
    const reason = `released by ${c.id} before it engaged`;
    await moveCommand(tx, armed, 'CANCELLED', { actor: 'system', reason }, now, onTransition);
  }
  if (c.emergency) {
    const p = profileNamed(c.profile);
    await setRearmAt(tx, c.id, now + p.emergencyReleaseHours * 3_600_000);
  }
}

/** ACKED relay commands become EXECUTED when the machine's own telemetry shows it. */
export async function confirmByTelemetry(ctx: StepContext): Promise<void> {
  for (const r of await ackedRelayCommandsWithNewTelemetry(ctx.db)) {
    await isolated(ctx, 'confirm by telemetry', r.id, () =>
      ctx.feed.run(async (tx, onTransition) => {
        const c = await findCommand(tx, r.id, true);
        if (!c || !executedByTelemetry(c.type, c.state, r)) return;
        const reason =
          c.type === 'immobilize'
            ? 'telemetry: relay engaged, machine standing, ignition off'
            : 'telemetry: relay open';
        await moveCommand(
          tx,
          c,
          'EXECUTED',
          { actor: `device:${c.deviceId}`, reason },
          ctx.now(),
          onTransition,
        );
        await afterExecuted(tx, { ...c, state: 'EXECUTED' }, ctx.now(), onTransition);
      }),
    );
  }
}

/** A cured account's machine is released without approval. */
export async function releaseCured(ctx: StepContext, profile: PolicyProfile): Promise<void> {
  // Candidates in one query (the cached stage of the machine's active contract); each is then
  // checked properly, under a lock, by the same rule the property tests hold.
  for (const deviceId of await releaseCandidates(ctx.db, profile.minStage)) {
    await isolated(ctx, 'release on cure', deviceId, () =>
      ctx.feed.run(async (tx, onTransition) => {
        await lockDevice(tx, deviceId);
        // Every relay command, however many locates and warnings came since.
        const history = await findCommands(tx, { deviceId, types: ['immobilize', 'release'], limit: 10_000 });
        const contractId = await contractOfDevice(tx, deviceId);
        const policy = await policyContext(tx, { id: '', deviceId, contractId }, profile, ctx.now());
        const stage = policy.account?.stage ?? null;
        if (!releaseNeeded(history, stage, profile.minStage)) return;
        await requestCommand(
          tx,
          {
            deviceId,
            type: 'release',
            reason: `account no longer at stage ${profile.minStage} (now ${stage ?? 'no contract'})`,
          },
          SYSTEM,
          ctx.now(),
          { profile, onTransition },
        );
      }),
    );
  }
}

/** After an emergency release's window, the immobilizer re-arms if the account is still uncured. */
export async function rearm(ctx: StepContext): Promise<void> {
  for (const id of await rearmsDue(ctx.db, ctx.now())) {
    await isolated(ctx, 're-arm', id, () =>
      ctx.feed.run(async (tx, onTransition) => {
        const release = await findCommand(tx, id, true);
        if (!release?.rearmAt) return;
        await setRearmAt(tx, id, null);
        const prior = await lastSentImmobilizeBefore(tx, release.deviceId, release.seq);
        const later = await findCommands(tx, {
          deviceId: release.deviceId,
          states: [...LIVE_STATES, 'EXECUTED'],
        });
        if (!prior || later.some((c) => c.seq > release.seq)) return;
        const { command } = await requestCommand(
          tx,
          { deviceId: release.deviceId, type: 'immobilize', reason: `re-arm after emergency release ${id}` },
          SYSTEM,
          ctx.now(),
          { profile: profileNamed(release.profile), onTransition },
        );
        if (command.state !== 'REQUESTED') return;
        // The approvals of the immobilize that the emergency release interrupted carry over.
        await carryOverApprovals(tx, command.id, prior);
        await moveCommand(
          tx,
          command,
          'APPROVED',
          { actor: 'system', reason: `approvals of ${prior} carried over` },
          ctx.now(),
          onTransition,
        );
      }),
    );
  }
}

/**
 * Moves one open command as far as it goes now (queue and send in one pass) and returns what to
 * publish, if anything: the caller publishes after the commit, so a crash in between means a resend
 * later, never a send unrecorded. `reconnected` holds devices that have just come back online.
 */
export async function advanceCommand(
  ctx: StepContext,
  id: string,
  reconnected: ReadonlySet<string>,
): Promise<Publication | null> {
  let publish: Publication | null = null;
  await ctx.feed.run(async (tx, onTransition) => {
    if (!(await lockCommand(tx, id))) return; // another node has it
    let c = (await findCommand(tx, id)) as CommandRow;
    // One evaluation for the whole pass: queueing and sending happen at the same moment.
    const p = profileNamed(c.profile);
    const t = ctx.now();
    const evaluation = evaluate(
      { type: c.type, requestedBy: c.requestedBy },
      await policyContext(tx, c, p, t),
    );
    for (let i = 0; i < 3; i++) {
      const step = nextStep(c, evaluation, t, reconnected.has(c.deviceId));
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
        // An immobilize that went out but never engaged may still be in the box's queue, or armed
        // on a box whose clock runs days behind: a disarm follows it (newer counter, taken whatever
        // the box's clock says), so it never engages after the platform gave it up.
        if (c.type === 'immobilize' && c.attempts > 0 && (c.state === 'SENT' || c.state === 'ACKED')) {
          await requestCommand(
            tx,
            {
              deviceId: c.deviceId,
              type: 'release',
              reason: `disarm: immobilize ${c.id} expired`,
              disarm: true,
            },
            SYSTEM,
            t,
            { profile: p, onTransition },
          );
        }
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
      const stored = (await deviceCommandKey(tx, c.deviceId))?.commandKey;
      const key = stored ? openCommandKey(keyring(ctx.db), c.deviceId, stored) : null;
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
      // Fixed at the first send (a resend is the same message); the counter is the device's next.
      const issuedAt = c.issuedAt ?? t;
      const nonce = c.nonce ?? randomBytes(16).toString('hex');
      const counter = c.counter ?? (await nextCommandCounter(tx, c.deviceId));
      const signed = signCommand(
        { id: c.id, deviceId: c.deviceId, type: c.type, counter, issuedAt, expiresAt: c.expiresAt, nonce },
        key,
      );
      await recordSend(tx, c.id, { issuedAt, counter, nonce, signature: signed.sig, at: t });
      if (c.state === 'QUEUED') {
        const reason = 'published to the device';
        c = await moveCommand(tx, c, 'SENT', { actor: 'system', reason, policy }, t, onTransition);
      }
      publish = { topic: topics.commands(c.deviceId), payload: JSON.stringify(signed) };
      return;
    }
  });
  return publish;
}
