/**
 * The remote-disable policy as code: may this command go to this machine now? Pure — the account,
 * the warning notices, the approvals, the machine's last telemetry and the clock all come in, so
 * the same evaluation runs at request, at approval, right before every send, and in the
 * property-based tests. The rules of each jurisdiction are data (a profile), documented in
 * docs/commands.md.
 *
 * Decisions: `allow` — send it; `wait` — nothing forbids it, but something still has to happen (a
 * warning period to run out, a second approver, the device to be heard from); `deny` — it must not
 * go out as things stand (not overdue enough, an open dispute, a pending promise to pay).
 */
import type { Role } from './roles.ts';

export const COMMAND_TYPES = ['immobilize', 'release', 'warn', 'locate'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export interface PolicyProfile {
  id: string;
  name: string;
  /** The account stage at or above which a machine may be immobilized. */
  minStage: number;
  /** A GPS-stop warning notice must have been recorded at least this long before sending … */
  warningHours: number;
  /** … through at least this many different channels. */
  warningChannels: number;
  /**
   * A warning counts for this many days after it was recorded: a customer warned a year ago has not
   * been warned of today's measure. Warnings from before the account was last cured never count.
   */
  warningValidDays: number;
  /** When set, a further (final) warning within this many hours of the earliest send is also required. */
  finalWarningHours: number | null;
  /** The device must have reported within this many minutes (a silent box cannot confirm anything). */
  maxSilenceMinutes: number;
  /** How long an approved emergency release lasts before the immobilizer re-arms (if still uncured). */
  emergencyReleaseHours: number;
  /** How long a sent command stays valid (the device refuses it afterwards). */
  commandTtlMinutes: number;
  /**
   * An engaged GPS stop older than this many days needs a decision — repossess, litigate or release
   * (the duty to mitigate, China Civil Code art. 591): the risk managers are asked, and again every
   * `decisionRepeatDays` until the machine is released.
   */
  decisionDays: number;
  decisionRepeatDays: number;
}

export const PROFILES: Record<string, PolicyProfile> = {
  default: {
    id: 'default',
    name: 'Default: stage 3, warning 72 h before through 2 channels, second approver',
    minStage: 3,
    warningHours: 72,
    warningChannels: 2,
    warningValidDays: 30,
    finalWarningHours: null,
    maxSilenceMinutes: 60,
    emergencyReleaseHours: 48,
    commandTtlMinutes: 24 * 60,
    decisionDays: 30,
    decisionRepeatDays: 7,
  },
  strict: {
    id: 'strict',
    name: 'Strict: as default, plus a final warning 48 h before, and a 24 h emergency release',
    minStage: 3,
    warningHours: 72,
    warningChannels: 2,
    warningValidDays: 30,
    finalWarningHours: 48,
    maxSilenceMinutes: 30,
    emergencyReleaseHours: 24,
    commandTtlMinutes: 12 * 60,
    decisionDays: 30,
    decisionRepeatDays: 7,
  },
};

export interface PolicyRequest {
  type: CommandType;
  requestedBy: string;
}

export interface PolicyContext {
  /** Epoch ms. */
  now: number;
  profile: PolicyProfile;
  account: {
    stage: number;
    openDispute: boolean;
    /** A documented override of an open dispute (who and why), or null. */
    disputeOverride: { by: string; reason: string } | null;
    pendingPromise: boolean;
    /** When the account last fell below `minStage` (a cure), epoch ms; null if never. */
    curedAt: number | null;
  } | null;
  /**
   * GPS-stop warning notices from the collection records; `at` is when the platform recorded each
   * (the server's clock), never the time its author claims.
   */
  warnings: readonly { at: number; channel: string }[];
  /** Approvals recorded for this command. */
  approvals: readonly { by: string; roles: readonly Role[]; at: number }[];
  device: { lastHeardAt: number | null };
}

export type Decision = 'allow' | 'wait' | 'deny';

export interface Evaluation {
  decision: Decision;
  /** What holds, in plain words. */
  reasons: string[];
  /** What does not hold yet (wait) or forbids it (deny), in plain words. */
  missing: string[];
}

const HOUR = 3_600_000;
const fmt = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function evaluate(request: PolicyRequest, ctx: PolicyContext): Evaluation {
  const reasons: string[] = [];
  const blockers: string[] = [];
  const pending: string[] = [];
  const p = ctx.profile;
  const a = ctx.account;

  if (request.type === 'release') {
    return {
      decision: 'allow',
      reasons: ['a release only gives the customer the machine back'],
      missing: [],
    };
  }
  if (request.type === 'locate') {
    return { decision: 'allow', reasons: ['a position report changes nothing on the machine'], missing: [] };
  }
  if (a === null) {
    return { decision: 'deny', reasons, missing: ['the machine is under no contract'] };
  }
  if (request.type === 'warn') {
    if (a.stage >= 1) reasons.push(`account at stage ${a.stage}: a warning on the machine is proportionate`);
    else blockers.push('account is current (stage 0): nothing to warn about');
    return finish(reasons, blockers, pending);
  }

  // immobilize
  if (a.stage >= p.minStage) reasons.push(`account at stage ${a.stage} (needs ${p.minStage} or more)`);
  else blockers.push(`account at stage ${a.stage}: immobilizing needs stage ${p.minStage} or more`);

  if (a.openDispute && a.disputeOverride === null) {
    blockers.push('a dispute is open: resolve it, or record a documented override');
  } else if (a.openDispute && a.disputeOverride) {
    reasons.push(`open dispute overridden by ${a.disputeOverride.by}: ${a.disputeOverride.reason}`);
  } else {
    reasons.push('no open dispute');
  }

  if (a.pendingPromise) blockers.push('a promise to pay is still pending');
  else reasons.push('no promise to pay pending');

  // Warnings that count: recorded, not stale, and since the last cure (a cure resets the ladder).
  const warnings = countingWarnings(ctx.warnings, ctx.now, p, a.curedAt);
  const due = ctx.now - p.warningHours * HOUR;
  const early = warnings.filter((w) => w.at <= due);
  const channels = new Set(early.map((w) => w.channel));
  if (channels.size >= p.warningChannels) {
    reasons.push(`warned at least ${p.warningHours} h before through ${[...channels].sort().join(', ')}`);
  } else {
    const all = new Set(warnings.map((w) => w.channel));
    const ready = earliestWarningTime(warnings, p);
    pending.push(
      all.size >= p.warningChannels && ready !== null
        ? `the warning period runs until ${fmt(ready)} (${p.warningHours} h after the warnings through ${p.warningChannels} channels)`
        : `a GPS-stop warning through ${p.warningChannels} channels at least ${p.warningHours} h before (have ${channels.size} old enough, ${all.size} in all; a warning counts for ${p.warningValidDays} days, and not from before a cure)`,
    );
  }
  if (p.finalWarningHours !== null) {
    const recent = warnings.some((w) => w.at >= ctx.now - p.finalWarningHours! * HOUR);
    if (recent) reasons.push(`a final warning within the last ${p.finalWarningHours} h`);
    else pending.push(`a final warning within ${p.finalWarningHours} h before sending`);
  }

  const second = ctx.approvals.find((x) => x.by !== request.requestedBy && x.roles.includes('risk_manager'));
  if (second) reasons.push(`approved by ${second.by}, a second risk manager`);
  else pending.push('approval by a second risk manager (not the requester)');

  const heard = ctx.device.lastHeardAt;
  if (heard !== null && heard >= ctx.now - p.maxSilenceMinutes * 60_000) {
    reasons.push(`device heard from at ${fmt(heard)}`);
  } else {
    pending.push(
      heard === null
        ? 'the device has never reported'
        : `the device has been silent since ${fmt(heard)} (more than ${p.maxSilenceMinutes} min)`,
    );
  }
  return finish(reasons, blockers, pending);
}

function finish(reasons: string[], blockers: string[], pending: string[]): Evaluation {
  if (blockers.length > 0) return { decision: 'deny', reasons, missing: [...blockers, ...pending] };
  if (pending.length > 0) return { decision: 'wait', reasons, missing: pending };
  return { decision: 'allow', reasons, missing: [] };
}

/**
 * The earliest time at which the warnings recorded so far satisfy the warning period: the moment the
 * N-th distinct channel's earliest warning is `warningHours` old. Null when fewer channels exist.
 */
/** The warnings the policy counts at `now`: recorded by then, within their validity, after the last cure. */
export function countingWarnings<W extends { at: number }>(
  warnings: readonly W[],
  now: number,
  p: Pick<PolicyProfile, 'warningValidDays'>,
  curedAt: number | null,
): W[] {
  const from = now - p.warningValidDays * 24 * HOUR;
  return warnings.filter((w) => w.at <= now && w.at > from && (curedAt === null || w.at > curedAt));
}

/** When an immobilize executed at `executedAt` needs a decision (epoch ms). */
export const decisionDueAt = (executedAt: number, p: Pick<PolicyProfile, 'decisionDays'>): number =>
  executedAt + p.decisionDays * 24 * HOUR;

export function earliestWarningTime(
  warnings: readonly { at: number; channel: string }[],
  p: Pick<PolicyProfile, 'warningHours' | 'warningChannels'>,
): number | null {
  const firstPerChannel = new Map<string, number>();
  for (const w of warnings) {
    const seen = firstPerChannel.get(w.channel);
    if (seen === undefined || w.at < seen) firstPerChannel.set(w.channel, w.at);
  }
  const times = [...firstPerChannel.values()].sort((x, y) => x - y);
  const nth = times[p.warningChannels - 1];
  return nth === undefined ? null : nth + p.warningHours * HOUR;
}
