/**
 * Remote commands to a machine's GPS box: their lifecycle, what the dispatcher does next with each,
 * and the signed form the device checks. Pure; the api's dispatcher (api/commands/) is the shell
 * that reads the database, asks `nextStep`, and writes what it says.
 *
 *   REQUESTED → APPROVED → QUEUED → SENT → ACKED → EXECUTED
 *        ↘ REJECTED   ↘ CANCELLED (any time before SENT, or before a resend)   SENT/ACKED ↘ FAILED
 *   ACKED ↘ CANCELLED when a release executed before the immobilize engaged
 *   every state before EXECUTED ↘ EXPIRED once the command's validity has run out (an ACKED
 *   immobilize 5 minutes after: the box disarms it at its expiry)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CommandType, Evaluation } from './policy.ts';

export const COMMAND_STATES = [
  'REQUESTED',
  'APPROVED',
  'QUEUED',
  'SENT',
  'ACKED',
  'EXECUTED',
  'REJECTED',
  'CANCELLED',
  'EXPIRED',
  'FAILED',
] as const;
export type CommandState = (typeof COMMAND_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<CommandState> = new Set([
  'EXECUTED',
  'REJECTED',
  'CANCELLED',
  'EXPIRED',
  'FAILED',
]);
/** States in which a command may still reach the machine: at most one immobilize per device. */
export const LIVE_STATES: readonly CommandState[] = ['REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED'];

const NEXT: Record<CommandState, readonly CommandState[]> = {
  REQUESTED: ['APPROVED', 'QUEUED', 'REJECTED', 'CANCELLED', 'EXPIRED'],
  APPROVED: ['QUEUED', 'CANCELLED', 'EXPIRED'],
  QUEUED: ['SENT', 'CANCELLED', 'EXPIRED'],
  SENT: ['ACKED', 'EXECUTED', 'FAILED', 'CANCELLED', 'EXPIRED'],
  // CANCELLED from ACKED: an immobilize that never engaged, made moot by an executed release.
  ACKED: ['EXECUTED', 'FAILED', 'EXPIRED', 'CANCELLED'],
  EXECUTED: [],
  REJECTED: [],
  CANCELLED: [],
  EXPIRED: [],
  FAILED: [],
};

export function canTransition(from: CommandState, to: CommandState): boolean {
  return NEXT[from].includes(to);
}

/**
 * Immobilizing takes a second person, and so does an emergency release (a release while the account
 * is still overdue, which re-arms after its window); the others go straight to the queue.
 */
export function needsApproval(type: CommandType, emergency = false): boolean {
  return type === 'immobilize' || emergency;
}

export interface DispatchView {
  type: CommandType;
  state: CommandState;
  emergency?: boolean;
  /** Epoch ms. */
  expiresAt: number;
  attempts: number;
  lastSentAt: number | null;
}

export type Step =
  | { kind: 'expire' }
  | { kind: 'cancel'; reason: string }
  | { kind: 'queue' }
  | { kind: 'send' }
  | { kind: 'wait'; reason: string };

/** How long after its expiry an acknowledged, never-engaged immobilize is closed as EXPIRED. */
export const ACKED_IMMOBILIZE_GRACE_MS = 5 * 60_000;

/** Resend after 5 s, 10 s, 20 s … capped at 5 min, until acknowledged or expired. */
export function resendDelayMs(attempts: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempts - 1), 300_000);
}

/**
 * What the dispatcher does with a command now, given the policy's evaluation at this moment. The
 * policy is asked again before every send and resend, so a cure in between cancels instead.
 */
export function nextStep(c: DispatchView, evaluation: Evaluation, now: number, reconnected = false): Step {
  if (TERMINAL_STATES.has(c.state) || c.state === 'ACKED') {
    // No command stays ACKED forever. An immobilize the box took on but never engaged is disarmed
    // by the box at its expiry; the platform closes it a little later, so that a report of the
    // relay engaged just before the expiry still has time to arrive.
    const lapse = c.type === 'immobilize' ? c.expiresAt + ACKED_IMMOBILIZE_GRACE_MS : c.expiresAt;
    if (c.state === 'ACKED' && now >= lapse) return { kind: 'expire' };
    return {
      kind: 'wait',
      reason: c.state === 'ACKED' ? 'waiting for the machine to show the result' : 'done',
    };
  }
  if (now >= c.expiresAt) return { kind: 'expire' };
  if (c.state === 'REQUESTED') {
    if (evaluation.decision === 'deny') return { kind: 'cancel', reason: evaluation.missing.join('; ') };
    return needsApproval(c.type, c.emergency)
      ? { kind: 'wait', reason: 'waiting for approval' }
      : { kind: 'queue' };
  }
  if (evaluation.decision === 'deny') return { kind: 'cancel', reason: evaluation.missing.join('; ') };
  if (evaluation.decision === 'wait') return { kind: 'wait', reason: evaluation.missing.join('; ') };
  if (c.state === 'APPROVED') return { kind: 'queue' };
  if (c.state === 'QUEUED') return { kind: 'send' };
  // SENT without an answer: resend on schedule, and at once when the device has just reconnected.
  const due = c.lastSentAt === null || now - c.lastSentAt >= resendDelayMs(c.attempts);
  return due || reconnected ? { kind: 'send' } : { kind: 'wait', reason: 'waiting for the device to answer' };
}

// --- the signed form on the wire -------------------------------------------------------------------

/** What goes to `devices/{id}/commands`. Times are epoch ms. */
export interface SignedCommand {
  v: 2;
  id: string;
  deviceId: string;
  type: CommandType;
  /**
   * This device's command counter, strictly increasing: the box refuses a command whose counter is
   * not above the last one it accepted (kept across reboots), so nothing old can be replayed to it.
   */
  counter: number;
  issuedAt: number;
  expiresAt: number;
  /** 128-bit random hex; the device refuses a nonce it has seen under another id. */
  nonce: string;
  /** HMAC-SHA256 with the device's command key over `canonicalCommand`, lowercase hex. */
  sig: string;
}

/** The exact bytes signed: the fields in this order, one per line, no trailing newline. */
export function canonicalCommand(c: Omit<SignedCommand, 'sig'>): string {
  return [
    'v2',
    c.id,
    c.deviceId,
    c.type,
    String(c.counter),
    String(c.issuedAt),
    String(c.expiresAt),
    c.nonce,
  ].join('\n');
}

const hmac = (key: string, text: string) =>
  createHmac('sha256', Buffer.from(key, 'hex')).update(text).digest();

function hexMatches(sig: unknown, expected: Buffer): boolean {
  const given =
    typeof sig === 'string' && /^[0-9a-f]{64}$/.test(sig) ? Buffer.from(sig, 'hex') : Buffer.alloc(0);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

export function signCommand(c: Omit<SignedCommand, 'sig' | 'v'>, key: string): SignedCommand {
  const unsigned = { v: 2 as const, ...c };
  return { ...unsigned, sig: hmac(key, canonicalCommand(unsigned)).toString('hex') };
}

export function signatureMatches(c: SignedCommand, key: string): boolean {
  return hexMatches(c.sig, hmac(key, canonicalCommand(c)));
}

/**
 * A release supersedes every immobilize still on its way: those not yet acknowledged are cancelled
 * (and the box refuses an immobilize issued before a release it has applied, should one still be in
 * a broker queue). Returns the states to move them to.
 */
export function supersededByRelease(state: CommandState, type: CommandType): CommandState | null {
  if (type !== 'immobilize') return null;
  return state === 'REQUESTED' || state === 'APPROVED' || state === 'QUEUED' || state === 'SENT'
    ? 'CANCELLED'
    : null;
}

/** The device's answer on `devices/{id}/ack`. */
export interface CommandAck {
  v?: 1;
  id: string;
  /** accepted: taken on (a relay command is done when telemetry shows it); done: carried out
   * (warn, locate); refused: not taken, with a reason. */
  status: 'accepted' | 'done' | 'refused';
  reason?: string;
  /** Device time, epoch ms. */
  ts?: number;
  /**
   * HMAC-SHA256 with the device's command key over `canonicalAck`, lowercase hex: the platform
   * believes an answer only from the box that holds the key (an unsigned or forged one is refused).
   */
  sig?: string;
}

/** The exact bytes of an ack that are signed: one field per line, no trailing newline. */
export function canonicalAck(a: Omit<CommandAck, 'sig'>): string {
  return ['ack1', a.id, a.status, a.reason ?? '', String(a.ts ?? '')].join('\n');
}

export function signAck(a: Omit<CommandAck, 'sig'>, key: string): CommandAck {
  return { ...a, sig: hmac(key, canonicalAck(a)).toString('hex') };
}

export function ackSignatureMatches(a: CommandAck, key: string): boolean {
  return hexMatches(a.sig, hmac(key, canonicalAck(a)));
}

export type RefusalReason =
  | 'malformed'
  | 'wrong_device'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'replayed_nonce'
  /** The counter is not above the last one this box accepted: an old command, replayed. */
  | 'replayed'
  | 'superseded'
  | 'unsupported';

/** Commands that move the relay: done only when telemetry shows it (executedByTelemetry). */
const RELAY_COMMANDS: ReadonlySet<CommandType> = new Set(['immobilize', 'release']);

/**
 * The state an ack moves a command to, or null when it changes nothing (a repeat, a late ack). The
 * box's word is not enough for a relay command: even a `done` leaves it ACKED until telemetry
 * shows the relay as wanted.
 */
export function stateAfterAck(state: CommandState, ack: CommandAck, type: CommandType): CommandState | null {
  if (state !== 'SENT' && state !== 'QUEUED') return null;
  if (ack.status === 'refused') return 'FAILED';
  return ack.status === 'done' && !RELAY_COMMANDS.has(type) ? 'EXECUTED' : 'ACKED';
}

/** Below this speed (km/h), with the ignition off, a machine counts as standing still. */
export const STATIONARY_KMH = 1;

/**
 * A relay command is done only when the machine itself shows it in telemetry reported after the
 * command was accepted: for an immobilize, the relay engaged on a machine standing still with the
 * ignition off, both reported (a machine seen moving — towed, or on a trailer — or a report without
 * ignition or speed confirms nothing yet); for a release, the relay open.
 */
export function executedByTelemetry(
  type: CommandType,
  state: CommandState,
  sample: { rly: boolean | null; ign: boolean | null; spd: number | null },
): boolean {
  if (state !== 'ACKED' || sample.rly === null) return false;
  // An unknown ignition or speed is never "off": it confirms nothing.
  if (type === 'immobilize')
    return sample.rly && sample.ign === false && sample.spd !== null && sample.spd < STATIONARY_KMH;
  if (type === 'release') return !sample.rly;
  return false;
}

export interface CommandRecord {
  type: CommandType;
  state: CommandState;
  /** An emergency release (needs a second person's approval before it does anything). */
  emergency?: boolean;
  attempts: number;
  /** Creation order on this device (the database's identity), so ties in time cannot mislead. */
  seq: number;
}

/**
 * Release on cure: a machine whose latest immobilize that went out may have reached it (the box did
 * not refuse it — an ack can be lost, so a cancelled or expired one counts too; a refused one is
 * passed over, since an earlier one may still hold the machine) must be released,
 * without approval, once its account is below the threshold, unless a release created after it is
 * still on its way or done. `commands` is the device's history, any order.
 */
export function releaseNeeded(
  commands: readonly CommandRecord[],
  stage: number | null,
  minStage: number,
): boolean {
  if (stage !== null && stage >= minStage) return false;
  // A refused immobilize did nothing on the box; one before it may still hold the machine.
  const sent = commands
    .filter((c) => c.type === 'immobilize' && c.attempts > 0 && c.state !== 'FAILED')
    .sort((a, b) => a.seq - b.seq)
    .at(-1);
  if (!sent) return false;
  // A release on its way or done; an emergency release still waiting for its approver is neither.
  const releasing = commands.some(
    (c) =>
      c.type === 'release' &&
      c.seq > sent.seq &&
      !(c.emergency && c.state === 'REQUESTED') &&
      !(['FAILED', 'EXPIRED', 'CANCELLED', 'REJECTED'] as CommandState[]).includes(c.state),
  );
  return !releasing;
}
