/**
 * Instalment schedules: equal monthly instalments (annuity, 等额本息), the form most machinery
 * loans, leases and instalment sales use. Rounding rules are in docs/overdue.md ("Schedules").
 */
import { addMonthsClamped, type IsoDate, toDayNumber } from './calendar-date.ts';
import { assertFen, type Fen, mulDivRoundHalfUp, toSafeFen } from './money.ts';

/** One instalment of a contract's schedule. Amounts in fen; the amount due is their sum. */
export interface Instalment {
  /** 1-based position in the schedule. */
  seq: number;
  dueDate: IsoDate;
  principal: Fen;
  interest: Fen;
  fees: Fen;
}

export interface ScheduleTerms {
  /** Contract principal before the down payment (the machine's financed price), in fen. */
  principal: Fen;
  /** Paid up front; the schedule finances principal − downPayment. */
  downPayment: Fen;
  /** Nominal annual interest rate in basis points (650 = 6.50 % a year); monthly rate = this / 12. */
  annualRateBp: number;
  termMonths: number;
  /** The first due date; later ones fall on the same day-of-month, clamped to short months. */
  firstDueDate: IsoDate;
  /** A flat fee added to every instalment (e.g. GPS service), in fen. Default 0. */
  monthlyFee?: Fen;
}

export function instalmentAmount(instalment: Instalment): Fen {
  return instalment.principal + instalment.interest + instalment.fees;
}

/** 120 000 = 12 months × 10 000 basis points: the monthly rate is annualRateBp / 120 000. */
const MONTHLY_BP_DENOMINATOR = 120_000n;

/**
 * The annuity payment F·r·(1+r)^n / ((1+r)^n − 1) with r = bp / 120000, computed as one exact BigInt
 * fraction and rounded half up to the fen once, so no float ever touches the amount.
 */
export function annuityPayment(financed: Fen, annualRateBp: number, termMonths: number): Fen {
  if (annualRateBp === 0) return mulDivRoundHalfUp(financed, 1, termMonths);
  const b = MONTHLY_BP_DENOMINATOR;
  const a = b + BigInt(annualRateBp);
  const n = BigInt(termMonths);
  const numerator = BigInt(financed) * BigInt(annualRateBp) * a ** n;
  const denominator = b * (a ** n - b ** n);
  return toSafeFen((2n * numerator + denominator) / (2n * denominator));
}

export function buildSchedule(terms: ScheduleTerms): Instalment[] {
  const principal = assertFen(terms.principal, 'principal');
  const downPayment = assertFen(terms.downPayment, 'downPayment');
  const fee = assertFen(terms.monthlyFee ?? 0, 'monthlyFee');
  const { annualRateBp, termMonths, firstDueDate } = terms;
  if (downPayment > principal) throw new RangeError('downPayment must not exceed principal');
  if (!Number.isSafeInteger(annualRateBp) || annualRateBp < 0 || annualRateBp > 100_000) {
    throw new RangeError(`annualRateBp must be a whole number 0-100000, got ${annualRateBp}`);
  }
  if (!Number.isSafeInteger(termMonths) || termMonths < 1 || termMonths > 600) {
    throw new RangeError(`termMonths must be a whole number 1-600, got ${termMonths}`);
  }
  toDayNumber(firstDueDate);

  const financed = principal - downPayment;
  const payment = annuityPayment(financed, annualRateBp, termMonths);
  const instalments: Instalment[] = [];
  let balance = financed;
  for (let seq = 1; seq <= termMonths; seq++) {
    // Interest on the opening balance, rounded half up each month; principal is the remainder of the
    // level payment. The last instalment takes whatever balance is left, absorbing all rounding.
    const interest = mulDivRoundHalfUp(balance, annualRateBp, MONTHLY_BP_DENOMINATOR);
    const part = seq === termMonths ? balance : Math.min(balance, Math.max(0, payment - interest));
    balance -= part;
    instalments.push({
      seq,
      dueDate: addMonthsClamped(firstDueDate, seq - 1),
      principal: part,
      interest,
      fees: fee,
    });
  }
  return instalments;
}
