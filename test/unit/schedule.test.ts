import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addDays } from '../../shared/calendar-date.ts';
import {
  annuityPayment,
  buildSchedule,
  instalmentAmount,
  type ScheduleTerms,
} from '../../shared/schedule.ts';
import {
  docSections,
  field,
  instalmentsOf,
  readOverdueDoc,
  tableOf,
  whole,
  yuan,
} from '../support/overdue-doc.ts';

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('buildSchedule', () => {
  const [example] = docSections(readOverdueDoc(), 'Schedules');

  it('reproduces the worked example in docs/overdue.md', () => {
    const terms = example && tableOf(example, 'principal')?.rows[0];
    const rows = example && tableOf(example, 'seq');
    if (!terms || !rows) throw new Error('docs/overdue.md lost its schedule example');
    const got = buildSchedule({
      principal: yuan(terms, 'principal'),
      downPayment: yuan(terms, 'down payment'),
      annualRateBp: whole(terms, 'annual rate bp'),
      termMonths: whole(terms, 'term months'),
      firstDueDate: field(terms, 'first due date'),
    });
    expect(got).toEqual(instalmentsOf(rows));
  });

  it('matches the textbook annuity: ¥100,000 at 12 % over 12 months is ¥8,884.88', () => {
    expect(annuityPayment(10_000_000, 1200, 12)).toBe(888_488);
  });

  it('clamps month-end due dates and returns to the 31st after short months', () => {
    const dates = (firstDueDate: string) =>
      buildSchedule({
        principal: 600_000,
        downPayment: 0,
        annualRateBp: 600,
        termMonths: 5,
        firstDueDate,
      }).map((i) => i.dueDate);
    expect(dates('2024-01-31')).toEqual([
      '2024-01-31',
      '2024-02-29',
      '2024-03-31',
      '2024-04-30',
      '2024-05-31',
    ]);
    expect(dates('2025-01-31')).toEqual([
      '2025-01-31',
      '2025-02-28',
      '2025-03-31',
      '2025-04-30',
      '2025-05-31',
    ]);
    expect(dates('2023-12-29')).toEqual([
      '2023-12-29',
      '2024-01-29',
      '2024-02-29',
      '2024-03-29',
      '2024-04-29',
    ]);
    expect(dates('2024-10-30')).toEqual([
      '2024-10-30',
      '2024-11-30',
      '2024-12-30',
      '2025-01-30',
      '2025-02-28',
    ]);
  });

  it('splits an interest-free schedule evenly, the last instalment taking the remainder', () => {
    const got = buildSchedule({
      principal: 100_001,
      downPayment: 1,
      annualRateBp: 0,
      termMonths: 3,
      firstDueDate: '2025-01-15',
      monthlyFee: 500,
    });
    expect(got.map((i) => [i.principal, i.interest, i.fees])).toEqual([
      [33_333, 0, 500],
      [33_333, 0, 500],
      [33_334, 0, 500],
    ]);
  });

  it.each<[string, Partial<ScheduleTerms>]>([
    ['a down payment above the principal', { downPayment: 2_000_000 }],
    ['a fractional principal', { principal: 1_000_000.5 }],
    ['a zero term', { termMonths: 0 }],
    ['a fractional rate', { annualRateBp: 6.5 }],
    ['an impossible first due date', { firstDueDate: '2025-02-29' }],
  ])('rejects %s', (_, change) => {
    const terms = {
      principal: 1_000_000,
      downPayment: 0,
      annualRateBp: 600,
      termMonths: 12,
      firstDueDate: '2025-01-15',
    };
    expect(() => buildSchedule({ ...terms, ...change })).toThrow(RangeError);
  });

  const termsArb = fc.record({
    principal: fc.integer({ min: 0, max: 500_000_000 }),
    downPct: fc.integer({ min: 0, max: 100 }),
    annualRateBp: fc.integer({ min: 0, max: 1500 }),
    termMonths: fc.integer({ min: 1, max: 60 }),
    firstDueDate: fc.integer({ min: 0, max: 4000 }).map((d) => addDays('2020-01-01', d)),
  });
  type Terms = Omit<ScheduleTerms, 'downPayment'> & { downPct: number };
  const financedOf = (t: Terms) => t.principal - Math.floor((t.principal * t.downPct) / 100);
  const build = (t: Terms) => buildSchedule({ ...t, downPayment: t.principal - financedOf(t) });

  it('principal always sums to the financed amount, in whole non-negative fen', () => {
    fc.assert(
      fc.property(termsArb, (t) => {
        const got = build(t);
        const financed = financedOf(t);
        expect(got).toHaveLength(t.termMonths);
        expect(sum(got.map((i) => i.principal))).toBe(financed);
        for (const i of got) {
          for (const v of [i.principal, i.interest, i.fees]) {
            expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
          }
        }
      }),
    );
  });

  it('every instalment but the last is the level payment; the last differs by rounding only', () => {
    // From ¥1,000 financed: below a few fen per month the level payment can run out before the end.
    const realistic = termsArb.filter((t) => financedOf(t) >= 100_000);
    fc.assert(
      fc.property(realistic, (t) => {
        const got = build(t);
        const level = annuityPayment(financedOf(t), t.annualRateBp, t.termMonths);
        const amounts = got.map(instalmentAmount);
        for (const a of amounts.slice(0, -1)) expect(a).toBe(level);
        // Each month's rounding moves the balance by at most a fen, compounding at ≤ 1.25 % a month.
        expect(Math.abs(amounts.at(-1)! - level)).toBeLessThanOrEqual(2 * t.termMonths + 1);
        expect(got.map((i) => i.dueDate)).toEqual([...got.map((i) => i.dueDate)].sort());
      }),
    );
  });
});
