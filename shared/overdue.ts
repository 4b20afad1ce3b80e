/**
 * The overdue engine: from a contract's schedule, its payments and an as-of date, which instalments
 * are paid, which are overdue, the accrued late penalty and the escalation stage (0-3). Pure — the
 * as-of date comes in, nothing is read from the clock, so any past day can be replayed exactly.
 * The rules, with worked examples that the tests run, are docs/overdue.md; keep the two in step.
 */
import { fromDayNumber, type IsoDate, toDayNumber } from './calendar-date.ts';
import { assertFen, type Fen, mulDivRoundHalfUp, sumFen } from './money.ts';
import type { Instalment } from './schedule.ts';

export type { Instalment } from './schedule.ts';

export type Stage = 0 | 1 | 2 | 3;

export interface Payment {
  /** The contract-local calendar date the money arrived (see `localDate`). */
  date: IsoDate;
  amount: Fen;
  reference: string;
}

export interface OverdueTerms {
  /** Days after the due date during which an unpaid instalment is still on time. */
  graceDays: number;
  /** Late penalty per day in basis points of the overdue unpaid amount (5 = 0.05 %/day, 万分之五). */
  penaltyRateBp: number;
  /** Overdue-instalment counts at which stages 1, 2 and 3 begin. Default [1, 2, 3]. */
  stageThresholds?: readonly [number, number, number];
}

export interface OverdueInput extends OverdueTerms {
  instalments: readonly Instalment[];
  payments: readonly Payment[];
  asOf: IsoDate;
}

/**
 * not_due: the due date is after as-of. due: due date reached, still within grace. overdue: past
 * grace and not fully paid. paid: fully covered by payments dated on or before as-of.
 */
export type InstalmentStatus = 'paid' | 'not_due' | 'due' | 'overdue';

export interface InstalmentState {
  seq: number;
  dueDate: IsoDate;
  amountDue: Fen;
  paid: Fen;
  unpaid: Fen;
  status: InstalmentStatus;
  /** Date of the payment that completed it, or null while unpaid (or when nothing was due). */
  paidOn: IsoDate | null;
  /** For an overdue instalment, days from its due date to as-of; otherwise 0. */
  daysPastDue: number;
  /** Unpaid fen × days on which the penalty accrues; the contract penalty is their sum × rate. */
  penaltyFenDays: number;
}

/** Which payment paid how much of which instalment: the audit trail of the allocation. */
export interface Allocation {
  reference: string;
  date: IsoDate;
  seq: number;
  amount: Fen;
}

export interface OverdueAssessment {
  asOf: IsoDate;
  stage: Stage;
  overdueInstalments: number;
  /** Unpaid part of the overdue instalments. */
  overdueAmount: Fen;
  /** Days from the due date of the oldest overdue instalment to as-of; 0 when none is overdue. */
  daysPastDue: number;
  /** Late penalty accrued up to and including as-of, in fen; not collected by payments. */
  penaltyAccrued: Fen;
  penaltyFenDays: number;
  /** Unpaid part of every instalment whose due date has come, overdue or still within grace. */
  dueUnpaid: Fen;
  /** Unpaid part of the whole schedule, due or not. */
  totalOutstanding: Fen;
  /** Money allocated to instalments. */
  totalPaid: Fen;
  /** Payments beyond the whole schedule, held as a credit. */
  unallocatedCredit: Fen;
  settled: boolean;
  /** Oldest due first (due date, then seq), whatever order they were given in. */
  instalments: InstalmentState[];
  allocations: Allocation[];
  /** Payments dated after as-of: not yet known on that day, so not counted. */
  ignoredPayments: Payment[];
}

export const DEFAULT_STAGE_THRESHOLDS = [1, 2, 3] as const;

export function stageFor(
  overdueInstalments: number,
  thresholds: readonly [number, number, number] = DEFAULT_STAGE_THRESHOLDS,
): Stage {
  checkThresholds(thresholds);
  if (overdueInstalments >= thresholds[2]) return 3;
  if (overdueInstalments >= thresholds[1]) return 2;
  if (overdueInstalments >= thresholds[0]) return 1;
  return 0;
}

function checkThresholds([t1, t2, t3]: readonly [number, number, number]): void {
  const whole = [t1, t2, t3].every((t) => Number.isSafeInteger(t));
  if (!whole || t1 < 1 || t2 <= t1 || t3 <= t2) {
    throw new RangeError(`stage thresholds must be whole and 1 ≤ t1 < t2 < t3, got [${t1}, ${t2}, ${t3}]`);
  }
}

function checkInput(input: OverdueInput): void {
  const { graceDays, penaltyRateBp } = input;
  if (!Number.isSafeInteger(graceDays) || graceDays < 0 || graceDays > 366) {
    throw new RangeError(`graceDays must be a whole number 0-366, got ${graceDays}`);
  }
  if (!Number.isSafeInteger(penaltyRateBp) || penaltyRateBp < 0 || penaltyRateBp > 10_000) {
    throw new RangeError(`penaltyRateBp must be a whole number 0-10000, got ${penaltyRateBp}`);
  }
  checkThresholds(input.stageThresholds ?? DEFAULT_STAGE_THRESHOLDS);
  const seqs = new Set<number>();
  for (const i of input.instalments) {
    if (!Number.isSafeInteger(i.seq) || seqs.has(i.seq))
      throw new RangeError(`duplicate or bad seq ${i.seq}`);
    seqs.add(i.seq);
    toDayNumber(i.dueDate);
    assertFen(i.principal, `instalment ${i.seq} principal`);
    assertFen(i.interest, `instalment ${i.seq} interest`);
    assertFen(i.fees, `instalment ${i.seq} fees`);
  }
  for (const p of input.payments) {
    toDayNumber(p.date);
    if (assertFen(p.amount, `payment ${p.reference} amount`) === 0) {
      throw new RangeError(`payment ${p.reference} amount must be positive`);
    }
  }
}

interface Ledger {
  instalment: Instalment;
  dueDay: number;
  amountDue: Fen;
  unpaid: Fen;
  paidOnDay: number | null;
  /** Allocations to this instalment in date order, as [day, amount]. */
  receipts: Array<[number, Fen]>;
}

/**
 * Sum over days d from the day after the due date up to as-of of the amount still unpaid at the end
 * of day d (a payment counts for the day it is dated). Money paid before the due date never accrues.
 */
function fenDaysPastDue(ledger: Ledger, asOfDay: number): number {
  let balance = ledger.amountDue;
  let from = ledger.dueDay + 1;
  let total = 0;
  for (const [day, amount] of ledger.receipts) {
    if (day > from) {
      total += (day - from) * balance;
      from = day;
    }
    balance -= amount;
  }
  total += Math.max(0, asOfDay - from + 1) * balance;
  if (!Number.isSafeInteger(total))
    throw new RangeError(`penalty base ${total} is beyond safe integer range`);
  return total;
}

export function assessOverdue(input: OverdueInput): OverdueAssessment {
  checkInput(input);
  const asOfDay = toDayNumber(input.asOf);
  const graceDays = input.graceDays;
  const thresholds = input.stageThresholds ?? DEFAULT_STAGE_THRESHOLDS;

  // Oldest due first; seq breaks ties so two instalments on one day still have a fixed order.
  const ledgers: Ledger[] = input.instalments
    .map((instalment) => {
      const amountDue = sumFen([instalment.principal, instalment.interest, instalment.fees]);
      const dueDay = toDayNumber(instalment.dueDate);
      return { instalment, dueDay, amountDue, unpaid: amountDue, paidOnDay: null, receipts: [] };
    })
    .sort((a, b) => a.dueDay - b.dueDay || a.instalment.seq - b.instalment.seq);

  const counted: Array<Payment & { day: number }> = [];
  const ignoredPayments: Payment[] = [];
  for (const p of input.payments) {
    const day = toDayNumber(p.date);
    if (day <= asOfDay) counted.push({ ...p, day });
    else ignoredPayments.push(p);
  }
  counted.sort((a, b) => a.day - b.day); // stable: same-day payments keep their given order

  // Every payment goes to the oldest instalment with money still owing, whatever its due date, so a
  // prepayment simply lands on the next instalments in order.
  const allocations: Allocation[] = [];
  let next = 0;
  let unallocatedCredit = 0;
  for (const p of counted) {
    let left = p.amount;
    while (left > 0 && next < ledgers.length) {
      const ledger = ledgers[next]!;
      const take = Math.min(left, ledger.unpaid);
      if (take > 0) {
        ledger.unpaid -= take;
        ledger.receipts.push([p.day, take]);
        allocations.push({ reference: p.reference, date: p.date, seq: ledger.instalment.seq, amount: take });
        left -= take;
        if (ledger.unpaid === 0) ledger.paidOnDay = p.day;
      }
      if (ledger.unpaid === 0) next++;
    }
    unallocatedCredit += left;
  }

  const instalments = ledgers.map((ledger): InstalmentState => {
    const lastOnTimeDay = ledger.dueDay + graceDays;
    let status: InstalmentStatus;
    if (ledger.unpaid === 0) status = 'paid';
    else if (asOfDay < ledger.dueDay) status = 'not_due';
    else if (asOfDay <= lastOnTimeDay) status = 'due';
    else status = 'overdue';
    // Grace forgives lateness only when the instalment is cleared within it; once grace has run out
    // unpaid, the penalty counts from the day after the due date (the rule in docs/overdue.md).
    const breachedGrace =
      asOfDay > lastOnTimeDay && (ledger.paidOnDay === null || ledger.paidOnDay > lastOnTimeDay);
    return {
      seq: ledger.instalment.seq,
      dueDate: ledger.instalment.dueDate,
      amountDue: ledger.amountDue,
      paid: ledger.amountDue - ledger.unpaid,
      unpaid: ledger.unpaid,
      status,
      paidOn: ledger.paidOnDay === null ? null : fromDayNumber(ledger.paidOnDay),
      daysPastDue: status === 'overdue' ? asOfDay - ledger.dueDay : 0,
      penaltyFenDays: breachedGrace && ledger.amountDue > 0 ? fenDaysPastDue(ledger, asOfDay) : 0,
    };
  });

  const overdue = instalments.filter((i) => i.status === 'overdue');
  const penaltyFenDays = sumFen(instalments.map((i) => i.penaltyFenDays));
  const totalOutstanding = sumFen(instalments.map((i) => i.unpaid));
  return {
    asOf: input.asOf,
    stage: stageFor(overdue.length, thresholds),
    overdueInstalments: overdue.length,
    overdueAmount: sumFen(overdue.map((i) => i.unpaid)),
    daysPastDue: overdue[0]?.daysPastDue ?? 0,
    // One rounding, half up, on the exact total — never per day or per instalment.
    penaltyAccrued: mulDivRoundHalfUp(penaltyFenDays, input.penaltyRateBp, 10_000),
    penaltyFenDays,
    dueUnpaid: sumFen(
      instalments.filter((i) => i.status === 'due' || i.status === 'overdue').map((i) => i.unpaid),
    ),
    totalOutstanding,
    totalPaid: sumFen(allocations.map((a) => a.amount)),
    unallocatedCredit,
    settled: totalOutstanding === 0,
    instalments,
    allocations,
    ignoredPayments,
  };
}
