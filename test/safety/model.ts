/**
 * What the campaign knows of the world, kept apart from the platform: the money booked and what
 * became of it, the warnings as recorded (server time, not the time claimed), disputes and
 * overrides, who approved what, and the machine itself. From it alone the campaign judges the
 * platform: whether a machine was stopped on grounds that held when the command went out, and
 * whether a cured account's machine was freed in time.
 */
import { localDate } from '../../shared/calendar-date.ts';
import { assessOverdue, type Instalment } from '../../shared/overdue.ts';
import type { PolicyProfile } from '../../shared/policy.ts';
import { type Mode, machineIn } from '../support/machine-modes.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export type { Mode };

export interface BookedPayment {
  reference: string;
  date: string;
  amount: number;
  bookedAt: number;
  /** Held for a second person's confirmation (the platform's answer, checked by the rule below). */
  held: boolean;
  confirmedAt: number | null;
  reversedAt: number | null;
}

export interface Terms {
  instalments: Instalment[];
  graceDays: number;
  penaltyRateBp: number;
  timeZone: string;
}

export class WorldModel {
  payments: BookedPayment[] = [];
  warnings: { recordedAt: number; channel: string }[] = [];
  disputes: { id: number; recordedAt: number; resolvedAt: number | null }[] = [];
  overrides: number[] = [];
  /** Successful approvals: command id → approver, with the command's requester. */
  approvals = new Map<string, { requester: string; approver: string }[]>();
  /** When the account fell below the threshold (model's own reckoning), in order. */
  cures: number[] = [];
  private lastStage: number;
  mode: Mode = 'parked';
  sensorsKnown = true;

  constructor(
    readonly terms: Terms,
    readonly profile: PolicyProfile,
    readonly roles: Record<string, string>,
    start: number,
  ) {
    this.lastStage = this.stageAt(start);
  }

  /** The stage at `t` from the money that counted at `t` (and `extra`, as if it counted too). */
  stageAt(t: number, extra: { date: string; amount: number; reference: string }[] = []): number {
    const counting = this.payments.filter(
      (p) =>
        p.bookedAt <= t &&
        (!p.held || (p.confirmedAt !== null && p.confirmedAt <= t)) &&
        !(p.reversedAt !== null && p.reversedAt <= t),
    );
    return assessOverdue({
      instalments: this.terms.instalments,
      payments: [...counting, ...extra].map((p) => ({
        date: p.date,
        amount: p.amount,
        reference: p.reference,
      })),
      asOf: localDate(t, this.terms.timeZone),
      graceDays: this.terms.graceDays,
      penaltyRateBp: this.terms.penaltyRateBp,
    }).stage;
  }

  /** Called after anything that may move the stage; remembers cures. */
  noteStage(t: number): number {
    const stage = this.stageAt(t);
    if (this.lastStage >= this.profile.minStage && stage < this.profile.minStage) this.cures.push(t);
    this.lastStage = stage;
    return stage;
  }

  get cured(): boolean {
    return this.lastStage < this.profile.minStage;
  }

  /** The truth of the machine (not what the box reads): whether it moves or runs. */
  machine(engaged: boolean): { ign: boolean; spd: number } {
    return machineIn(this.mode, engaged);
  }

  /** What the box reads of the machine: nothing of ignition and speed when its sensors fail. */
  reading(engaged: boolean): { ign: boolean | null; spd: number | null } {
    return this.sensorsKnown ? this.machine(engaged) : { ign: null, spd: null };
  }

  /**
   * Why an immobilize sent at `sentAt` was not justified then, or null when it was: stage at or above
   * the threshold, warnings through enough channels recorded long enough before (and after the last
   * cure, and not stale), a second risk manager's approval, no dispute open without a later override.
   * `carriedFrom` names the command whose approvals a re-arm carried over.
   */
  unjustified(commandId: string, sentAt: number, carriedFrom: string | null): string | null {
    const p = this.profile;
    const stage = this.stageAt(sentAt);
    if (stage < p.minStage) return `stage ${stage} when sent`;
    const lastCure = this.cures.filter((c) => c <= sentAt).at(-1) ?? Number.NEGATIVE_INFINITY;
    const channels = new Set(
      this.warnings
        .filter(
          (w) =>
            w.recordedAt <= sentAt - p.warningHours * HOUR &&
            w.recordedAt >= sentAt - p.warningValidDays * DAY &&
            w.recordedAt > lastCure,
        )
        .map((w) => w.channel),
    );
    if (channels.size < p.warningChannels) return `warned through ${channels.size} channel(s) in time`;
    const approved = (id: string) =>
      (this.approvals.get(id) ?? []).some(
        (a) => a.approver !== a.requester && this.roles[a.approver] === 'risk_manager',
      );
    if (!approved(commandId) && !(carriedFrom && approved(carriedFrom))) return 'no second risk manager';
    const open = this.disputes.filter(
      (d) => d.recordedAt <= sentAt && (d.resolvedAt === null || d.resolvedAt > sentAt),
    );
    const lastOverride = this.overrides.filter((o) => o <= sentAt).at(-1) ?? Number.NEGATIVE_INFINITY;
    if (open.some((d) => d.recordedAt >= lastOverride)) return 'a dispute open and not overridden';
    return null;
  }
}
