/**
 * Commands in the database, and the only module that writes them: creating one, moving it from
 * state to state (one row per transition, with who, why and the policy's evaluation), recording
 * approvals, sends, acks and re-arm times; reading them with their approvals and transitions, the
 * dispatcher's work lists, and the policy context of a command from the account, the collection
 * records and the telemetry.
 */

import type { Sql } from '../../db/client.ts';
import { lastHeardAt } from '../../db/positions.ts';
import { assessAccount } from '../../shared/account.ts';
import { localDate } from '../../shared/calendar-date.ts';
import { standingRecords } from '../../shared/collections.ts';
import { ACKED_IMMOBILIZE_GRACE_MS, type CommandState, canTransition } from '../../shared/commands.ts';
import { ConflictError } from '../../shared/errors.ts';
import type { CommandType, Evaluation, PolicyContext, PolicyProfile } from '../../shared/policy.ts';
import { isRole, type Role } from '../../shared/roles.ts';
import { commandInScope, seesAll, type Viewer } from '../auth/scope.ts';
import { loadAccountInputs } from '../contracts/store.ts';

export interface CommandRow {
  id: string;
  seq: number;
  deviceId: string;
  contractId: string | null;
  type: CommandType;
  state: CommandState;
  reason: string;
  requestedBy: string;
  requestedAt: number;
  profile: string;
  emergency: boolean;
  rearmAt: number | null;
  expiresAt: number;
  issuedAt: number | null;
  /** The device's command counter, taken at the first send. */
  counter: number | null;
  nonce: string | null;
  signature: string | null;
  attempts: number;
  lastSentAt: number | null;
  ackedAt: number | null;
  ackReason: string | null;
  executedAt: number | null;
}

const ms = (v: Date | string | null): number | null => (v === null ? null : new Date(v).getTime());

const COLUMNS = `id, seq, device_id, contract_id, type, state, reason, requested_by, requested_at, profile, emergency,
  rearm_at, expires_at, issued_at, counter, nonce, signature, attempts, last_sent_at, acked_at, ack_reason, executed_at`;

function toCommand(r: Record<string, unknown>): CommandRow {
  return {
    id: r.id as string,
    seq: Number(r.seq),
    deviceId: r.device_id as string,
    contractId: (r.contract_id as string | null) ?? null,
    type: r.type as CommandType,
    state: r.state as CommandState,
    reason: r.reason as string,
    requestedBy: r.requested_by as string,
    requestedAt: ms(r.requested_at as Date) as number,
    profile: r.profile as string,
    emergency: Boolean(r.emergency),
    rearmAt: ms(r.rearm_at as Date | null),
    expiresAt: ms(r.expires_at as Date) as number,
    issuedAt: ms(r.issued_at as Date | null),
    counter: r.counter === null || r.counter === undefined ? null : Number(r.counter),
    nonce: (r.nonce as string | null) ?? null,
    signature: (r.signature as string | null) ?? null,
    attempts: Number(r.attempts),
    lastSentAt: ms(r.last_sent_at as Date | null),
    ackedAt: ms(r.acked_at as Date | null),
    ackReason: (r.ack_reason as string | null) ?? null,
    executedAt: ms(r.executed_at as Date | null),
  };
}

export async function findCommand(sql: Sql, id: string, lock = false): Promise<CommandRow | null> {
  const { rows } = await sql.query<Record<string, unknown>>(
    `select ${COLUMNS} from command where id = $1 ${lock ? 'for update' : ''}`,
    [id],
  );
  return rows[0] ? toCommand(rows[0]) : null;
}

export async function findCommands(
  sql: Sql,
  filter: {
    states?: readonly CommandState[];
    types?: readonly CommandType[];
    deviceId?: string;
    contractId?: string;
    limit?: number;
    /** Only commands in this viewer's scope (default: all). */
    viewer?: Viewer;
  },
): Promise<CommandRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.viewer && !seesAll(filter.viewer)) where.push(commandInScope(filter.viewer, 'command', params));
  if (filter.states) where.push(`state = any($${params.push(filter.states)}::text[])`);
  if (filter.types) where.push(`type = any($${params.push(filter.types)}::text[])`);
  if (filter.deviceId) where.push(`device_id = $${params.push(filter.deviceId)}`);
  if (filter.contractId) where.push(`contract_id = $${params.push(filter.contractId)}`);
  const { rows } = await sql.query<Record<string, unknown>>(
    `select ${COLUMNS} from command ${where.length ? `where ${where.join(' and ')}` : ''}
     order by seq desc limit $${params.push(filter.limit ?? 200)}`,
    params,
  );
  return rows.map(toCommand);
}

export interface Transition {
  from: CommandState | null;
  to: CommandState;
  at: string;
  actor: string;
  reason: string;
  policy: (Evaluation & { profile: string }) | null;
}

export async function transitionsOf(sql: Sql, id: string): Promise<Transition[]> {
  const { rows } = await sql.query<{
    from_state: CommandState | null;
    to_state: CommandState;
    at: Date;
    actor: string;
    reason: string;
    policy: Transition['policy'] | string | null;
  }>(
    'select from_state, to_state, at, actor, reason, policy from command_transition where command_id = $1 order by id',
    [id],
  );
  return rows.map((r) => ({
    from: r.from_state,
    to: r.to_state,
    at: new Date(r.at).toISOString(),
    actor: r.actor,
    reason: r.reason,
    policy: typeof r.policy === 'string' ? JSON.parse(r.policy) : r.policy,
  }));
}

export interface Approval {
  by: string;
  roles: Role[];
  decision: 'approve' | 'reject';
  note: string;
  at: number;
}

export async function approvalsOf(sql: Sql, id: string): Promise<Approval[]> {
  const { rows } = await sql.query<{
    by_user: string;
    roles: string[];
    decision: 'approve' | 'reject';
    note: string;
    at: Date;
  }>('select by_user, roles, decision, note, at from command_approval where command_id = $1 order by at', [
    id,
  ]);
  return rows.map((r) => ({
    by: r.by_user,
    roles: r.roles.filter(isRole),
    decision: r.decision,
    note: r.note,
    at: new Date(r.at).getTime(),
  }));
}

/** Called with each transition after it is written (the live feed, the audit log). */
export type TransitionListener = (tx: Sql, command: CommandRow, t: Transition) => Promise<void> | void;

/**
 * Moves a command to `to`, refusing a move the lifecycle does not allow, and records it. `patch`
 * sets other columns in the same statement (e.g. signature fields at the first send).
 */
export async function moveCommand(
  tx: Sql,
  c: CommandRow,
  to: CommandState,
  who: { actor: string; reason: string; policy?: (Evaluation & { profile: string }) | null },
  now: number,
  onTransition?: TransitionListener,
): Promise<CommandRow> {
  if (c.state === to) return c;
  if (!canTransition(c.state, to))
    throw new ConflictError(`command ${c.id} is ${c.state}: it cannot become ${to}`);
  const at = new Date(now).toISOString();
  const extra = to === 'EXECUTED' ? ', executed_at = $3' : to === 'ACKED' ? ', acked_at = $3' : '';
  await tx.query(`update command set state = $2, updated_at = $3 ${extra} where id = $1`, [c.id, to, at]);
  await tx.query(
    `insert into command_transition (command_id, from_state, to_state, at, actor, reason, policy)
     values ($1, $2, $3, $4, $5, $6, $7)`,
    [c.id, c.state, to, at, who.actor, who.reason, who.policy ? JSON.stringify(who.policy) : null],
  );
  const moved = { ...c, state: to };
  await onTransition?.(tx, moved, {
    from: c.state,
    to,
    at,
    actor: who.actor,
    reason: who.reason,
    policy: who.policy ?? null,
  });
  return moved;
}

/** The device's current contract: the active one on the machine it sits on, else the latest. */
export interface NewCommand {
  id: string;
  deviceId: string;
  contractId: string | null;
  type: CommandType;
  reason: string;
  requestedBy: string;
  profile: string;
  emergency: boolean;
  expiresAt: number;
  /** The policy's evaluation at the request, kept on the first transition. */
  policy: Evaluation & { profile: string };
}

/** Inserts a REQUESTED command with its first transition; returns it as stored. */
export async function insertCommand(tx: Sql, n: NewCommand, now: number): Promise<CommandRow> {
  await tx.query(
    `insert into command (id, device_id, contract_id, type, state, reason, requested_by, requested_at, profile,
                          emergency, expires_at)
     values ($1, $2, $3, $4, 'REQUESTED', $5, $6, $7, $8, $9, $10)`,
    [
      n.id,
      n.deviceId,
      n.contractId,
      n.type,
      n.reason,
      n.requestedBy,
      new Date(now).toISOString(),
      n.profile,
      n.emergency,
      new Date(n.expiresAt).toISOString(),
    ],
  );
  const command = (await findCommand(tx, n.id)) as CommandRow;
  await tx.query(
    `insert into command_transition (command_id, from_state, to_state, at, actor, reason, policy)
     values ($1, null, 'REQUESTED', $2, $3, $4, $5)`,
    [command.id, new Date(now).toISOString(), n.requestedBy, n.reason, JSON.stringify(n.policy)],
  );
  return command;
}

/** A person's approval or rejection, with the roles they held then. */
export async function recordDecision(
  tx: Sql,
  commandId: string,
  user: { username: string; roles: readonly string[] },
  decision: 'approve' | 'reject',
  note: string,
  now: number,
): Promise<void> {
  await tx.query(
    `insert into command_approval (command_id, by_user, roles, decision, note, at) values ($1, $2, $3, $4, $5, $6)`,
    [commandId, user.username, user.roles, decision, note, new Date(now).toISOString()],
  );
}

/** The approvals of one command counted again for another (an interrupted immobilize re-armed). */
export async function carryOverApprovals(tx: Sql, toId: string, fromId: string): Promise<void> {
  await tx.query(
    `insert into command_approval (command_id, by_user, roles, decision, note, at)
     select $1, by_user, roles, decision, 'carried over from ' || command_id, at from command_approval
     where command_id = $2 and decision = 'approve'`,
    [toId, fromId],
  );
}

/** What a send stamps on the command: its signature fields (fixed at the first send) and one more attempt. */
export async function recordSend(
  tx: Sql,
  id: string,
  send: { issuedAt: number; counter: number; nonce: string; signature: string; at: number },
): Promise<void> {
  await tx.query(
    `update command set issued_at = $2, nonce = $3, signature = $4, attempts = attempts + 1, last_sent_at = $5,
       counter = $6
     where id = $1`,
    [
      id,
      new Date(send.issuedAt).toISOString(),
      send.nonce,
      send.signature,
      new Date(send.at).toISOString(),
      send.counter,
    ],
  );
}

export async function recordAckReason(tx: Sql, id: string, reason: string): Promise<void> {
  await tx.query('update command set ack_reason = $2 where id = $1', [id, reason]);
}

/** When an executed emergency release re-arms the immobilizer; null once it has been handled. */
export async function setRearmAt(tx: Sql, id: string, at: number | null): Promise<void> {
  await tx.query('update command set rearm_at = $2 where id = $1', [
    id,
    at === null ? null : new Date(at).toISOString(),
  ]);
}

/** Takes the command's row lock unless another node holds it; false when it does. */
export async function lockCommand(tx: Sql, id: string): Promise<boolean> {
  const { rows } = await tx.query('select id from command where id = $1 for update skip locked', [id]);
  return rows.length > 0;
}

/** ACKED relay commands whose device reported since the last send, with what it reported. */
export async function ackedRelayCommandsWithNewTelemetry(
  sql: Sql,
): Promise<{ id: string; rly: boolean | null; ign: boolean | null; spd: number | null }[]> {
  const { rows } = await sql.query<{
    id: string;
    rly: boolean | null;
    ign: boolean | null;
    spd: number | null;
  }>(
    `select c.id, lp.rly, lp.ign, lp.spd from command c join latest_position lp on lp.device_id = c.device_id
     where c.state = 'ACKED' and c.type in ('immobilize', 'release') and lp.received_at >= c.last_sent_at`,
  );
  return rows;
}

/**
 * Devices whose last sent immobilize may need a release: the cached stage of the machine's active
 * contract is below `minStage` and no release is under way. Candidates only: each is checked again.
 */
export async function releaseCandidates(sql: Sql, minStage: number): Promise<string[]> {
  const { rows } = await sql.query<{ device_id: string }>(
    `with last_sent as (
       select distinct on (device_id) device_id, seq, state from command
       where type = 'immobilize' and attempts > 0 and state <> 'FAILED' order by device_id, seq desc)
     select l.device_id from last_sent l
     left join installation i on i.device_id = l.device_id and i.removed_at is null
     left join contract c on c.machine_id = i.machine_id and c.status = 'active'
     where coalesce(c.stage, 0) < $1
       and not exists (select 1 from command r where r.device_id = l.device_id and r.type = 'release'
                       and r.seq > l.seq and r.state not in ('FAILED', 'EXPIRED', 'CANCELLED', 'REJECTED')
                       and not (r.emergency and r.state = 'REQUESTED'))`,
    [minStage],
  );
  return rows.map((r) => r.device_id);
}

/** Executed emergency releases whose re-arm time has come. */
export async function rearmsDue(sql: Sql, now: number): Promise<string[]> {
  const { rows } = await sql.query<{ id: string }>(
    `select id from command where type = 'release' and emergency and state = 'EXECUTED' and rearm_at <= $1`,
    [new Date(now).toISOString()],
  );
  return rows.map((r) => r.id);
}

/** The last immobilize sent to the device before the given command, if any. */
export async function lastSentImmobilizeBefore(
  sql: Sql,
  deviceId: string,
  seq: number,
): Promise<string | null> {
  const { rows } = await sql.query<{ id: string }>(
    `select id from command where device_id = $1 and type = 'immobilize' and seq < $2 and attempts > 0
     order by seq desc limit 1`,
    [deviceId, seq],
  );
  return rows[0]?.id ?? null;
}

/**
 * The commands that may have something to do now: approved or queued ones; requested ones that
 * need no approval; sent ones whose resend is due (5 s at the earliest) or whose device just came
 * back; and anything past its validity. A command waiting for a person is left alone.
 */
export async function dueCommands(
  sql: Sql,
  now: number,
  reconnected: readonly string[],
): Promise<{ id: string; deviceId: string }[]> {
  const { rows } = await sql.query<{ id: string; device_id: string }>(
    `select id, device_id from command
     where state in ('APPROVED', 'QUEUED')
        or (state = 'REQUESTED' and type <> 'immobilize' and not emergency)
        or (state = 'SENT' and (last_sent_at <= $1 or device_id = any($2::text[])))
        or (state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT') and expires_at <= $3)
        or (state = 'ACKED' and type <> 'immobilize' and expires_at <= $3)
        or (state = 'ACKED' and type = 'immobilize' and expires_at <= $4)
     order by seq`,
    [
      new Date(now - 5_000).toISOString(),
      [...reconnected],
      new Date(now).toISOString(),
      new Date(now - ACKED_IMMOBILIZE_GRACE_MS).toISOString(),
    ],
  );
  return rows.map((r) => ({ id: r.id, deviceId: r.device_id }));
}

/** The device a command is for; null when there is no such command. */
export async function deviceOfCommand(sql: Sql, id: string): Promise<string | null> {
  const { rows } = await sql.query<{ device_id: string }>('select device_id from command where id = $1', [
    id,
  ]);
  return rows[0]?.device_id ?? null;
}

export async function contractOfDevice(sql: Sql, deviceId: string): Promise<string | null> {
  const { rows } = await sql.query<{ id: string }>(
    `select c.id from installation i join contract c on c.machine_id = i.machine_id
     where i.device_id = $1 and i.removed_at is null
     order by (c.status = 'active') desc, c.start_date desc limit 1`,
    [deviceId],
  );
  return rows[0]?.id ?? null;
}

export async function deviceOfContract(sql: Sql, contractId: string): Promise<string | null> {
  const { rows } = await sql.query<{ device_id: string }>(
    `select i.device_id from contract c join installation i on i.machine_id = c.machine_id and i.removed_at is null
     where c.id = $1`,
    [contractId],
  );
  return rows[0]?.device_id ?? null;
}

/** When the account last fell from `minStage` or above to below it (a cure), epoch ms; null if never. */
async function lastCure(sql: Sql, contractId: string, minStage: number): Promise<number | null> {
  const { rows } = await sql.query<{ at: Date | null }>(
    `select max(changed_at) as at from stage_change
     where contract_id = $1 and from_stage >= $2 and to_stage < $2`,
    [contractId, minStage],
  );
  return ms(rows[0]?.at ?? null);
}

/**
 * Whether a GPS stop is under way on the machine of a contract: an immobilize requested, approved,
 * on its way, armed or engaged — or one that went out and may still hold the box although the
 * platform gave it up (cancelled or expired: its answer may have been lost, and the box may not
 * have taken the disarm yet; only a refusal, FAILED, says it did nothing) — and no release taken
 * by the box since. The same reading as release on cure (shared/commands.ts releaseNeeded).
 */
export async function gpsStopUnderWay(sql: Sql, contractId: string): Promise<boolean> {
  const { rows } = await sql.query<{ under_way: boolean }>(
    `select exists (
       select 1 from command i
       join installation inst on inst.device_id = i.device_id and inst.removed_at is null
       join contract c on c.machine_id = inst.machine_id and c.id = $1
       where i.type = 'immobilize'
         and (i.state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED', 'EXECUTED')
              or (i.attempts > 0 and i.state <> 'FAILED'))
         and not exists (select 1 from command r where r.device_id = i.device_id and r.type = 'release'
                         and r.seq > i.seq and r.state in ('ACKED', 'EXECUTED'))
     ) as under_way`,
    [contractId],
  );
  return Boolean(rows[0]?.under_way);
}

/** Everything the policy looks at for a command, read now. */
export async function policyContext(
  sql: Sql,
  c: Pick<CommandRow, 'id' | 'deviceId' | 'contractId'>,
  profile: PolicyProfile,
  now: number,
): Promise<PolicyContext> {
  let account: PolicyContext['account'] = null;
  let warnings: PolicyContext['warnings'] = [];
  if (c.contractId) {
    const loaded = await loadAccountInputs(sql, c.contractId);
    if (loaded) {
      const a = assessAccount(loaded.inputs, localDate(now, loaded.contract.timezone));
      // By the server's clock throughout: when each record was made, not when its author says.
      const lastRaised = Math.max(...a.openDisputes.map((d) => Date.parse(d.recordedAt)));
      const { rows: overrides } = await sql.query<{ by_user: string; reason: string; at: Date }>(
        'select by_user, reason, at from dispute_override where contract_id = $1 order by at desc limit 1',
        [c.contractId],
      );
      const override = overrides[0];
      account = {
        stage: a.overdue.settled ? 0 : a.overdue.stage,
        openDispute: a.openDisputes.length > 0,
        // An override covers the disputes raised before it, not one raised after it.
        disputeOverride:
          override && new Date(override.at).getTime() >= lastRaised
            ? { by: override.by_user, reason: override.reason }
            : null,
        pendingPromise: a.promises.some((p) => p.status === 'pending'),
        curedAt: await lastCure(sql, c.contractId, profile.minStage),
      };
      // Warnings that stand: a corrected warning counts with its correction's channel, from when
      // the correction was recorded.
      warnings = standingRecords(loaded.inputs.activities)
        .filter((x) => x.kind === 'gps_stop_warning' && x.channel !== null)
        .map((x) => ({ at: Date.parse(x.recordedAt), channel: x.channel as string }));
    }
  }
  const approvals = (await approvalsOf(sql, c.id))
    .filter((x) => x.decision === 'approve')
    .map((x) => ({ by: x.by, roles: x.roles, at: x.at }));
  const heard = await lastHeardAt(sql, c.deviceId);
  return { now, profile, account, warnings, approvals, device: { lastHeardAt: ms(heard) } };
}
