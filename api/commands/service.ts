/**
 * What people do with commands: request, approve, reject, cancel, and the documented override of a
 * dispute. The policy is evaluated at request and at approval (and again by the dispatcher before
 * every send); every step is a recorded transition.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/client.ts';
import { deviceCommandKey } from '../../db/devices.ts';
import { type CommandState, needsApproval, supersededByRelease } from '../../shared/commands.ts';
import {
  ConflictError,
  InvalidInputError,
  NotAllowedError,
  NotFoundError,
  UnprocessableError,
} from '../../shared/errors.ts';
import {
  type CommandType,
  type Evaluation,
  evaluate,
  type PolicyProfile,
  PROFILES,
} from '../../shared/policy.ts';
import type { AuthUser } from '../auth/access.ts';
import {
  approvalsOf,
  type CommandRow,
  contractOfDevice,
  deviceOfContract,
  findCommand,
  findCommands,
  insertCommand,
  moveCommand,
  policyContext,
  recordDecision,
  type TransitionListener,
} from './store.ts';

export interface CommandDeps {
  profile: PolicyProfile;
  onTransition?: TransitionListener;
}

export function profileNamed(name: string): PolicyProfile {
  const p = PROFILES[name];
  if (!p) throw new Error(`unknown policy profile ${name}: one of ${Object.keys(PROFILES).join(', ')}`);
  return p;
}

/** The configured profile, with its command lifetime replaced when COMMAND_TTL_SECONDS is set. */
export function configuredProfile(name: string, commandTtlSeconds: number | undefined): PolicyProfile {
  const named = profileNamed(name);
  return commandTtlSeconds ? { ...named, commandTtlMinutes: commandTtlSeconds / 60 } : named;
}

const withProfile = (e: Evaluation, p: PolicyProfile) => ({ ...e, profile: p.id });

export interface RequestInput {
  deviceId?: string | undefined;
  contractId?: string | undefined;
  type: CommandType;
  reason: string;
  /**
   * A release by the platform that only undoes an immobilize it gave up on (expired): never an
   * emergency release, so it needs no approval and re-arms nothing.
   */
  disarm?: boolean;
}

export interface Requested {
  command: CommandRow;
  evaluation: Evaluation;
}

/** A decision's outcome, with the policy's evaluation when the decision asked for one. */
export interface Decided {
  command: CommandRow;
  evaluation: Evaluation | null;
}

export async function requestCommand(
  tx: Sql,
  input: RequestInput,
  user: AuthUser,
  now: number,
  deps: CommandDeps,
): Promise<Requested> {
  const deviceId = input.deviceId ?? (input.contractId ? await deviceOfContract(tx, input.contractId) : null);
  if (!deviceId) {
    throw input.contractId
      ? new UnprocessableError(`contract ${input.contractId} has no machine with a GPS device installed`)
      : new InvalidInputError('give deviceId or contractId');
  }
  const device = await deviceCommandKey(tx, deviceId);
  if (!device) throw new NotFoundError(`device ${deviceId}`);
  // A release is always safe: it waits in the broker for a disabled device to come back.
  if (device.disabled && input.type !== 'release')
    throw new UnprocessableError(`device ${deviceId} is disabled`);
  if (!device.commandKey)
    throw new UnprocessableError(`device ${deviceId} has no command key: provision it again`);
  const contractId = input.contractId ?? (await contractOfDevice(tx, deviceId));
  if (
    input.contractId &&
    input.deviceId &&
    (await contractOfDevice(tx, input.deviceId)) !== input.contractId
  ) {
    throw new UnprocessableError(
      `device ${input.deviceId} is not on the machine of contract ${input.contractId}`,
    );
  }

  const p = deps.profile;
  const draft = { id: randomUUID(), deviceId, contractId };
  const ctx = await policyContext(tx, draft, p, now);
  const evaluation = evaluate({ type: input.type, requestedBy: user.username }, ctx);
  // A release while the account is still at the immobilizing stage is an emergency release: it
  // needs a second person too, and the immobilizer re-arms after its window if still uncured.
  const emergency =
    input.type === 'release' && !input.disarm && ctx.account !== null && ctx.account.stage >= p.minStage;
  if (input.type === 'immobilize') {
    const live = await findCommands(tx, {
      deviceId,
      states: ['REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED'],
    });
    const open = live.find((c) => c.type === 'immobilize');
    if (open)
      throw new ConflictError(`device ${deviceId} already has immobilize ${open.id} in state ${open.state}`);
  }
  let command = await insertCommand(
    tx,
    {
      id: draft.id,
      deviceId,
      contractId,
      type: input.type,
      reason: input.reason,
      requestedBy: user.username,
      profile: p.id,
      emergency,
      expiresAt: now + p.commandTtlMinutes * 60_000,
      policy: withProfile(evaluation, p),
    },
    now,
  );
  await deps.onTransition?.(tx, command, {
    from: null,
    to: 'REQUESTED',
    at: new Date(now).toISOString(),
    actor: user.username,
    reason: input.reason,
    policy: withProfile(evaluation, p),
  });
  if (evaluation.decision === 'deny') {
    command = await moveCommand(
      tx,
      command,
      'REJECTED',
      { actor: 'policy', reason: evaluation.missing.join('; '), policy: withProfile(evaluation, p) },
      now,
      deps.onTransition,
    );
  } else if (input.type === 'release' && !emergency) {
    // An emergency release supersedes nothing until a second person has approved it: one person
    // alone must not undo what two decided.
    await supersedeImmobilizes(tx, deviceId, command, now, deps);
  }
  return { command, evaluation };
}

/** A release cancels every immobilize of the device that has not been acknowledged yet. */
export async function supersedeImmobilizes(
  tx: Sql,
  deviceId: string,
  release: CommandRow,
  now: number,
  deps: Pick<CommandDeps, 'onTransition'>,
): Promise<void> {
  for (const c of await findCommands(tx, { deviceId, states: ['REQUESTED', 'APPROVED', 'QUEUED', 'SENT'] })) {
    const to = supersededByRelease(c.state, c.type);
    if (to && c.seq < release.seq) {
      await moveCommand(
        tx,
        c,
        to,
        { actor: 'system', reason: `superseded by release ${release.id}` },
        now,
        deps.onTransition,
      );
    }
  }
}

async function openCommand(tx: Sql, id: string): Promise<CommandRow> {
  const c = await findCommand(tx, id, true);
  if (!c) throw new NotFoundError(`command ${id}`);
  return c;
}

export async function approveCommand(
  tx: Sql,
  id: string,
  user: AuthUser,
  note: string,
  now: number,
  deps: CommandDeps,
): Promise<Decided> {
  const c = await openCommand(tx, id);
  if (c.state !== 'REQUESTED')
    throw new ConflictError(`command ${id} is ${c.state}: only a REQUESTED command can be approved`);
  if (!needsApproval(c.type, c.emergency)) throw new ConflictError(`a ${c.type} needs no approval`);
  if (c.requestedBy === user.username)
    throw new NotAllowedError('the requester cannot approve their own command');
  if (!user.roles.includes('risk_manager')) throw new NotAllowedError('only a risk manager can approve');
  await recordDecision(tx, id, user, 'approve', note, now);
  const p = profileNamed(c.profile);
  const evaluation = evaluate(
    { type: c.type, requestedBy: c.requestedBy },
    await policyContext(tx, c, p, now),
  );
  const to: CommandState = evaluation.decision === 'deny' ? 'REJECTED' : 'APPROVED';
  const reason =
    to === 'REJECTED' ? `policy at approval: ${evaluation.missing.join('; ')}` : note || 'approved';
  const moved = await moveCommand(
    tx,
    c,
    to,
    { actor: user.username, reason, policy: withProfile(evaluation, p) },
    now,
    deps.onTransition,
  );
  if (moved.state === 'APPROVED' && moved.type === 'release')
    await supersedeImmobilizes(tx, moved.deviceId, moved, now, deps);
  return { command: moved, evaluation };
}

export async function rejectCommand(
  tx: Sql,
  id: string,
  user: AuthUser,
  note: string,
  now: number,
  deps: CommandDeps,
): Promise<Decided> {
  const c = await openCommand(tx, id);
  if (c.state !== 'REQUESTED')
    throw new ConflictError(`command ${id} is ${c.state}: only a REQUESTED command can be rejected`);
  if (c.requestedBy === user.username)
    throw new NotAllowedError('the requester cancels, not rejects, their own command');
  await recordDecision(tx, id, user, 'reject', note, now);
  const command = await moveCommand(
    tx,
    c,
    'REJECTED',
    { actor: user.username, reason: note },
    now,
    deps.onTransition,
  );
  return { command, evaluation: null };
}

export async function cancelCommand(
  tx: Sql,
  id: string,
  user: AuthUser,
  reason: string,
  now: number,
  deps: CommandDeps,
): Promise<Decided> {
  const c = await openCommand(tx, id);
  if (c.state === 'SENT' || c.state === 'ACKED' || c.state === 'EXECUTED') {
    throw new ConflictError(
      `command ${id} is ${c.state}: it may have reached the machine; request a release instead`,
    );
  }
  // What two people decided, one of them may take back; nobody else.
  if (c.state === 'APPROVED' || c.state === 'QUEUED') {
    const approvers = (await approvalsOf(tx, id)).filter((a) => a.decision === 'approve').map((a) => a.by);
    if (user.username !== c.requestedBy && !approvers.includes(user.username))
      throw new NotAllowedError(
        `only the requester (${c.requestedBy}) or an approver (${approvers.join(', ') || 'none'}) may cancel an approved command`,
      );
  }
  const command = await moveCommand(
    tx,
    c,
    'CANCELLED',
    { actor: user.username, reason },
    now,
    deps.onTransition,
  );
  return { command, evaluation: null };
}

export async function overrideDispute(
  tx: Sql,
  contractId: string,
  user: AuthUser,
  reason: string,
  now: number,
): Promise<void> {
  const { rows } = await tx.query('select 1 from contract where id = $1', [contractId]);
  if (rows.length === 0) throw new NotFoundError(`contract ${contractId}`);
  await tx.query('insert into dispute_override (contract_id, by_user, reason, at) values ($1, $2, $3, $4)', [
    contractId,
    user.username,
    reason,
    new Date(now).toISOString(),
  ]);
}
