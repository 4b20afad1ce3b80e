/** Properties of the overdue engine over random contracts, payments and as-of dates. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays, addMonthsClamped } from '../../shared/calendar-date.ts';
import { mulDivRoundHalfUp } from '../../shared/money.ts';
import {
  assessOverdue,
  type OverdueAssessment,
  type OverdueInput,
  type Payment,
} from '../../shared/overdue.ts';

const pay = (date: string, amount: number, reference = `R-${date}`): Payment => ({ date, amount, reference });

const contractArb = fc
  .record({
    n: fc.integer({ min: 1, max: 12 }),
    firstDue: fc.integer({ min: 0, max: 3000 }).map((d) => addDays('2020-01-01', d)),
    amounts: fc.array(fc.integer({ min: 0, max: 50_000_000 }), { minLength: 12, maxLength: 12 }),
    payments: fc.array(
      fc.record({
        offset: fc.integer({ min: -60, max: 420 }),
        amount: fc.integer({ min: 1, max: 80_000_000 }),
      }),
      { maxLength: 15 },
    ),
    graceDays: fc.integer({ min: 0, max: 10 }),
    penaltyRateBp: fc.integer({ min: 0, max: 50 }),
    asOffset: fc.integer({ min: -40, max: 420 }),
  })
  .map((c) => {
    const instalments = Array.from({ length: c.n }, (_, k) => {
      const amount = c.amounts[k]!;
      return {
        seq: k + 1,
        dueDate: addMonthsClamped(c.firstDue, k),
        principal: amount,
        interest: 0,
        fees: 0,
      };
    });
    return {
      instalments,
      payments: c.payments.map((p, i) => pay(addDays(c.firstDue, p.offset), p.amount, `P${i}`)),
      graceDays: c.graceDays,
      penaltyRateBp: c.penaltyRateBp,
      asOf: addDays(c.firstDue, c.asOffset),
    } satisfies OverdueInput;
  });

const total = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('overdue engine properties', () => {
  it('stage is within 0-3 and equals min(3, overdue instalments)', () => {
    fc.assert(
      fc.property(contractArb, (input) => {
        const got = assessOverdue(input);
        expect(got.stage).toBe(Math.min(3, got.overdueInstalments));
      }),
    );
  });

  it('allocation conserves money and amounts nest: overdue ≤ due ≤ outstanding ≤ scheduled', () => {
    fc.assert(
      fc.property(contractArb, (input) => {
        const got = assessOverdue(input);
        const scheduled = total(input.instalments.map((i) => i.principal));
        const counted = total(input.payments.filter((p) => p.date <= input.asOf).map((p) => p.amount));
        expect(got.totalPaid + got.unallocatedCredit).toBe(counted);
        expect(got.totalPaid + got.totalOutstanding).toBe(scheduled);
        for (const i of got.instalments) {
          expect(total(got.allocations.filter((a) => a.seq === i.seq).map((a) => a.amount))).toBe(i.paid);
        }
        expect(got.overdueAmount).toBeLessThanOrEqual(got.dueUnpaid);
        expect(got.dueUnpaid).toBeLessThanOrEqual(got.totalOutstanding);
        expect(got.penaltyAccrued).toBe(mulDivRoundHalfUp(got.penaltyFenDays, input.penaltyRateBp, 10_000));
      }),
    );
  });

  it('paying everything due by as-of always gives stage 0', () => {
    fc.assert(
      fc.property(contractArb, fc.integer({ min: 0, max: 400 }), (input, daysBefore) => {
        const due = total(input.instalments.filter((i) => i.dueDate <= input.asOf).map((i) => i.principal));
        const payments = due > 0 ? [pay(addDays(input.asOf, -daysBefore), due)] : [];
        const got = assessOverdue({ ...input, payments });
        expect(got.stage).toBe(0);
        expect(got.dueUnpaid).toBe(0);
      }),
    );
  });

  it('accrued penalty never decreases as the as-of date moves on', () => {
    fc.assert(
      fc.property(contractArb, fc.integer({ min: 1, max: 90 }), (input, later) => {
        const now = assessOverdue(input);
        const then = assessOverdue({ ...input, asOf: addDays(input.asOf, later) });
        expect(then.penaltyFenDays).toBeGreaterThanOrEqual(now.penaltyFenDays);
      }),
    );
  });

  it('the order payments are listed in does not change the outcome', () => {
    fc.assert(
      fc.property(contractArb, (input) => {
        const a = assessOverdue(input);
        const b = assessOverdue({ ...input, payments: [...input.payments].reverse() });
        const key = (r: OverdueAssessment) => [
          r.stage,
          r.overdueAmount,
          r.penaltyFenDays,
          r.totalOutstanding,
        ];
        expect(key(b)).toEqual(key(a));
      }),
    );
  });
});
