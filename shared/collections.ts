/**
 * Collection records and what follows from them: which records stand (corrections replace what
 * they correct), which disputes are open, whether each promise to pay was kept or broken, and the
 * next action the escalation ladder asks for. Pure: payments and the as-of date come in.
 */
import type { IsoDate } from './calendar-date.ts';
import type { Fen } from './money.ts';
import type { Payment, Stage } from './overdue.ts';

export const ACTIVITY_KINDS = [
  'sms',
  'call',
  'visit',
  'lawyer_letter',
  'promise_to_pay',
  'dispute_raised',
  'dispute_resolved',
  'gps_stop_warning',
  'tow',
  'litigation',
  'note',
] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

export const CHANNELS = ['sms', 'phone', 'visit', 'letter', 'email', 'wechat', 'device', 'other'] as const;
export type Channel = (typeof CHANNELS)[number];

export const DISPUTE_CATEGORIES = [
  'quality',
  'service',
  'unpaid_project',
  'insurance',
  'accident',
  'other',
] as const;
export type DisputeCategory = (typeof DISPUTE_CATEGORIES)[number];

export interface Activity {
  id: number;
  kind: ActivityKind;
  actor: string;
  /** ISO instant: when it happened, as the person recording it says. */
  occurredAt: string;
  /**
   * ISO instant: when the platform recorded it, by the server's clock. What the GPS-stop policy
   * counts from: a claim can be backdated, this cannot.
   */
  recordedAt: string;
  /** The contract-local date it happened on (promises count payments from that day). */
  occurredOn: IsoDate;
  channel: Channel | null;
  outcome: string | null;
  body: string;
  promisedDate: IsoDate | null;
  promisedAmount: Fen | null;
  disputeCategory: DisputeCategory | null;
  correctsId: number | null;
  resolvesId: number | null;
}

/** The records that stand: every record not replaced by a later correction. */
export function standingRecords(records: readonly Activity[]): Activity[] {
  const replaced = new Set(records.flatMap((r) => (r.correctsId === null ? [] : [r.correctsId])));
  return records.filter((r) => !replaced.has(r.id));
}

/** The first record of a correction chain: a correction stands for the original it replaced. */
function originalId(id: number, byId: Map<number, Activity>): number {
  const seen = new Set<number>();
  let current = id;
  for (let r = byId.get(current); r?.correctsId != null && !seen.has(current); r = byId.get(current)) {
    seen.add(current);
    current = r.correctsId;
  }
  return current;
}

/** Disputes raised and not resolved (a resolution may name the dispute or any correction of it). */
export function openDisputes(records: readonly Activity[]): Activity[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  const standing = standingRecords(records);
  const resolved = new Set(
    standing.flatMap((r) =>
      r.kind === 'dispute_resolved' && r.resolvesId !== null ? [originalId(r.resolvesId, byId)] : [],
    ),
  );
  return standing.filter((r) => r.kind === 'dispute_raised' && !resolved.has(originalId(r.id, byId)));
}

export type PromiseStatus = 'pending' | 'kept' | 'broken';

export interface PromiseOutcome {
  activityId: number;
  promisedDate: IsoDate;
  promisedAmount: Fen;
  /** Paid from the day the promise was made up to and including the promised date. */
  paidTowards: Fen;
  status: PromiseStatus;
}

/**
 * A promise is kept once payments dated from the day it was made up to and including the promised
 * date reach the promised amount; broken when the promised date has passed (before as-of) without
 * that; pending otherwise. Only standing records count, and payments after as-of are not yet known.
 */
export function promiseOutcomes(
  records: readonly Activity[],
  payments: readonly Payment[],
  asOf: IsoDate,
): PromiseOutcome[] {
  return standingRecords(records)
    .filter((r) => r.kind === 'promise_to_pay' && r.promisedDate !== null && r.promisedAmount !== null)
    .map((r) => {
      const promisedDate = r.promisedDate as IsoDate;
      const promisedAmount = r.promisedAmount as Fen;
      const until = promisedDate < asOf ? promisedDate : asOf;
      const paidTowards = payments
        .filter((p) => p.date >= r.occurredOn && p.date <= until)
        .reduce((sum, p) => sum + p.amount, 0);
      const status: PromiseStatus =
        paidTowards >= promisedAmount ? 'kept' : promisedDate < asOf ? 'broken' : 'pending';
      return { activityId: r.id, promisedDate, promisedAmount, paidTowards, status };
    });
}

export type NextActionCode =
  | 'none'
  | 'remind'
  | 'lawyer_letter_visit'
  | 'locate_and_tow'
  | 'await_promise'
  | 'resolve_dispute';

export interface NextAction {
  code: NextActionCode;
  /** Plain words for the collector. */
  text: string;
  /** Other measures the ladder allows at this point. */
  alternatives: string[];
  /** The stage allows a GPS stop and nothing on the account holds it back (the policy decides). */
  gpsStopEligible: boolean;
}

export interface AccountSituation {
  stage: Stage;
  settled: boolean;
  openDispute: boolean;
  pendingPromise: { promisedDate: IsoDate; promisedAmount: Fen } | null;
  brokenPromises: number;
}

/** After this many broken promises, a new promise no longer holds escalation back ("no more extensions"). */
export const PROMISE_LIMIT = 2;

const LADDER: Record<Stage, Omit<NextAction, 'gpsStopEligible'>> = {
  0: { code: 'none', text: 'Current: nothing to do.', alternatives: [] },
  1: {
    code: 'remind',
    text: 'One instalment overdue: remind the customer and the guarantor by SMS and phone, more often each day.',
    alternatives: [],
  },
  2: {
    code: 'lawyer_letter_visit',
    text: "Two instalments overdue: phone, and a legal officer visits with a lawyer's letter.",
    alternatives: [],
  },
  3: {
    code: 'locate_and_tow',
    text: 'Three or more overdue: locate the machine and plan the tow, or go to litigation; GPS stop may be requested.',
    alternatives: ['litigation', 'gps_stop', 'stop_after_sales_service', 'collection_agency'],
  },
};

export function nextAction(s: AccountSituation): NextAction {
  if (s.settled || s.stage === 0) return { ...LADDER[0], gpsStopEligible: false };
  if (s.openDispute) {
    return {
      code: 'resolve_dispute',
      text: 'A dispute is open: investigate and record its resolution before escalating further.',
      alternatives: [LADDER[s.stage].code],
      gpsStopEligible: false,
    };
  }
  const promiseHolds = s.pendingPromise !== null && s.brokenPromises < PROMISE_LIMIT;
  if (promiseHolds && s.pendingPromise) {
    return {
      code: 'await_promise',
      text: `Promise to pay by ${s.pendingPromise.promisedDate}: follow up on that day; escalate if it is broken.`,
      alternatives: [LADDER[s.stage].code],
      gpsStopEligible: false,
    };
  }
  const step = LADDER[s.stage];
  const text =
    s.brokenPromises >= PROMISE_LIMIT
      ? `${step.text} ${s.brokenPromises} promises broken: no more extensions.`
      : step.text;
  return { ...step, text, gpsStopEligible: s.stage === 3 };
}
