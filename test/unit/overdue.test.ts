import { describe, expect, it } from 'vitest';
import { addMonthsClamped } from '../../shared/calendar-date.ts';
import { formatYuan, mulDivRoundHalfUp, parseYuan } from '../../shared/money.ts';
import {
  assessOverdue,
  type Instalment,
  type OverdueAssessment,
  type OverdueInput,
  type Payment,
  stageFor,
} from '../../shared/overdue.ts';
import { buildSchedule } from '../../shared/schedule.ts';
import {
  docSections,
  field,
  instalmentsOf,
  paymentsOf,
  readOverdueDoc,
  tableOf,
  whole,
  yuan,
} from '../support/overdue-doc.ts';

const examples = docSections(readOverdueDoc(), 'Worked examples');

describe('docs/overdue.md worked examples', () => {
  it('has the examples the page promises', () => {
    expect(examples.length).toBeGreaterThanOrEqual(7);
    for (const e of examples) expect(tableOf(e, 'as of')?.rows.length, e.title).toBeGreaterThan(0);
  });

  for (const example of examples) {
    const terms = tableOf(example, 'grace days')?.rows[0];
    const schedule = tableOf(example, 'seq');
    const results = tableOf(example, 'as of');
    if (!terms || !schedule || !results) throw new Error(`example '${example.title}' is missing a table`);
    const thresholds = field(terms, 'stage thresholds').split(',').map(Number) as [number, number, number];
    const base = {
      graceDays: whole(terms, 'grace days'),
      penaltyRateBp: whole(terms, 'penalty bp/day'),
      stageThresholds: thresholds,
      instalments: instalmentsOf(schedule),
      payments: paymentsOf(tableOf(example, 'date')),
    };
    for (const row of results.rows) {
      it(`${example.title} — as of ${field(row, 'as of')}`, () => {
        const got = assessOverdue({ ...base, asOf: field(row, 'as of') });
        expect({
          instalments: got.instalments.map((i) => i.status).join(', '),
          overdue: got.overdueInstalments,
          overdueAmount: got.overdueAmount,
          daysPastDue: got.daysPastDue,
          penalty: got.penaltyAccrued,
          stage: got.stage,
          dueUnpaid: got.dueUnpaid,
          outstanding: got.totalOutstanding,
          settled: got.settled,
        }).toEqual({
          instalments: field(row, 'instalments'),
          overdue: whole(row, 'overdue'),
          overdueAmount: yuan(row, 'overdue amount'),
          daysPastDue: whole(row, 'days past due'),
          penalty: yuan(row, 'penalty'),
          stage: whole(row, 'stage'),
          dueUnpaid: yuan(row, 'due unpaid'),
          outstanding: yuan(row, 'outstanding'),
          settled: field(row, 'settled') === 'yes',
        });
      });
    }
  }
});

/** n instalments of ¥1,000.00 (¥900 principal + ¥100 interest) monthly from firstDue. */
function monthly(n: number, firstDue: string, amount = 100_000): Instalment[] {
  return Array.from({ length: n }, (_, k) => ({
    seq: k + 1,
    dueDate: addMonthsClamped(firstDue, k),
    principal: amount - amount / 10,
    interest: amount / 10,
    fees: 0,
  }));
}

const pay = (date: string, amount: number, reference = `R-${date}`): Payment => ({ date, amount, reference });

interface Case {
  name: string;
  input: Partial<OverdueInput> & Pick<OverdueInput, 'instalments' | 'asOf'>;
  statuses?: string;
  expect: Partial<OverdueAssessment>;
}

const cases: Case[] = [
  {
    name: 'a partial payment leaves the rest of the instalment overdue',
    input: {
      instalments: monthly(3, '2025-05-10'),
      payments: [pay('2025-05-10', 30_000)],
      asOf: '2025-05-20',
    },
    statuses: 'overdue, not_due, not_due',
    expect: {
      stage: 1,
      overdueAmount: 70_000,
      daysPastDue: 10,
      penaltyFenDays: 700_000,
      penaltyAccrued: 350,
    },
  },
  {
    name: 'a prepayment of two instalments keeps the account current past both due dates',
    input: {
      instalments: monthly(3, '2025-05-10'),
      payments: [pay('2025-04-01', 200_000)],
      asOf: '2025-06-30',
    },
    statuses: 'paid, paid, not_due',
    expect: { stage: 0, penaltyAccrued: 0, totalOutstanding: 100_000, dueUnpaid: 0 },
  },
  {
    name: 'a payment on the due date with no grace is on time',
    input: {
      instalments: monthly(2, '2025-05-10'),
      payments: [pay('2025-05-10', 100_000)],
      graceDays: 0,
      asOf: '2025-06-09',
    },
    statuses: 'paid, not_due',
    expect: { stage: 0, penaltyFenDays: 0 },
  },
  {
    name: 'a late lump sum spans three instalments, oldest first',
    input: {
      instalments: monthly(4, '2025-01-05'),
      payments: [pay('2025-03-20', 250_000, 'LUMP')],
      asOf: '2025-03-20',
    },
    statuses: 'paid, paid, overdue, not_due',
    expect: {
      stage: 1,
      overdueAmount: 50_000,
      allocations: [
        { reference: 'LUMP', date: '2025-03-20', seq: 1, amount: 100_000 },
        { reference: 'LUMP', date: '2025-03-20', seq: 2, amount: 100_000 },
        { reference: 'LUMP', date: '2025-03-20', seq: 3, amount: 50_000 },
      ],
    },
  },
  {
    name: 'a due date clamped to 28 February is overdue on 1 March without grace',
    input: {
      instalments: buildSchedule({
        principal: 300_000,
        downPayment: 0,
        annualRateBp: 0,
        termMonths: 3,
        firstDueDate: '2025-01-31',
      }),
      payments: [pay('2025-01-31', 100_000)],
      graceDays: 0,
      asOf: '2025-03-01',
    },
    statuses: 'paid, overdue, not_due',
    expect: { stage: 1, daysPastDue: 1, overdueAmount: 100_000 },
  },
  {
    name: 'a leap-day due date is on time through the last grace day',
    input: { instalments: monthly(1, '2024-02-29'), payments: [], graceDays: 3, asOf: '2024-03-03' },
    statuses: 'due',
    expect: { stage: 0, dueUnpaid: 100_000, daysPastDue: 0, penaltyAccrued: 0 },
  },
  {
    name: 'paid on the last grace day: never any penalty',
    input: {
      instalments: monthly(2, '2025-05-10'),
      payments: [pay('2025-05-13', 100_000)],
      asOf: '2025-06-01',
    },
    statuses: 'paid, not_due',
    expect: { stage: 0, penaltyFenDays: 0 },
  },
  {
    name: 'paid the day after grace: penalty from the due date until the payment day',
    input: {
      instalments: monthly(2, '2025-05-10'),
      payments: [pay('2025-05-14', 100_000)],
      asOf: '2025-06-01',
    },
    statuses: 'paid, not_due',
    expect: { stage: 0, penaltyFenDays: 300_000, penaltyAccrued: 150 },
  },
  {
    name: 'a stage 3 account cures to stage 0 with one payment and keeps its penalty',
    input: {
      instalments: monthly(5, '2025-01-10'),
      payments: [pay('2025-04-20', 400_000)],
      penaltyRateBp: 10,
      asOf: '2025-04-20',
    },
    statuses: 'paid, paid, paid, paid, not_due',
    expect: {
      stage: 0,
      overdueInstalments: 0,
      penaltyFenDays: (99 + 68 + 40 + 9) * 100_000,
      penaltyAccrued: 21_600,
    },
  },
  {
    name: 'a fully settled contract with an overpayment keeps the excess as credit',
    input: {
      instalments: monthly(3, '2025-01-10'),
      payments: [pay('2024-12-30', 320_000)],
      asOf: '2025-09-01',
    },
    statuses: 'paid, paid, paid',
    expect: { settled: true, stage: 0, totalOutstanding: 0, totalPaid: 300_000, unallocatedCredit: 20_000 },
  },
  {
    name: 'payments dated after as-of are ignored',
    input: {
      instalments: monthly(2, '2025-01-10'),
      payments: [pay('2025-02-01', 100_000, 'LATE')],
      asOf: '2025-01-31',
    },
    statuses: 'overdue, not_due',
    expect: { stage: 1, totalPaid: 0, ignoredPayments: [pay('2025-02-01', 100_000, 'LATE')] },
  },
  {
    name: 'payments given out of order are applied in date order',
    input: {
      instalments: monthly(2, '2025-01-10'),
      payments: [pay('2025-02-10', 100_000, 'SECOND'), pay('2025-01-20', 100_000, 'FIRST')],
      asOf: '2025-02-10',
    },
    statuses: 'paid, paid',
    expect: {
      penaltyFenDays: 900_000,
      allocations: [
        { reference: 'FIRST', date: '2025-01-20', seq: 1, amount: 100_000 },
        { reference: 'SECOND', date: '2025-02-10', seq: 2, amount: 100_000 },
      ],
    },
  },
  {
    name: 'custom thresholds: four overdue instalments is stage 2 of [2, 4, 6]',
    input: {
      instalments: monthly(5, '2025-01-10'),
      payments: [],
      stageThresholds: [2, 4, 6],
      asOf: '2025-05-01',
    },
    statuses: 'overdue, overdue, overdue, overdue, not_due',
    expect: { stage: 2, overdueInstalments: 4, overdueAmount: 400_000 },
  },
  {
    name: 'an instalment with nothing to pay counts as paid',
    input: {
      instalments: [{ seq: 1, dueDate: '2025-01-10', principal: 0, interest: 0, fees: 0 }],
      asOf: '2025-03-01',
    },
    statuses: 'paid',
    expect: { stage: 0, settled: true, penaltyFenDays: 0 },
  },
];

describe('overdue engine cases', () => {
  it.each(cases)('$name', ({ input, statuses, expect: expected }) => {
    const got = assessOverdue({ payments: [], graceDays: 3, penaltyRateBp: 5, ...input });
    if (statuses) expect(got.instalments.map((i) => i.status).join(', ')).toBe(statuses);
    expect(got).toMatchObject(expected);
  });

  const good: OverdueInput = {
    instalments: monthly(1, '2025-01-10'),
    payments: [],
    graceDays: 3,
    penaltyRateBp: 5,
    asOf: '2025-02-01',
  };
  it.each<[string, Partial<OverdueInput>]>([
    ['an impossible date', { asOf: '2025-02-30' }],
    ['a fractional amount', { instalments: [{ ...good.instalments[0]!, interest: 10.5 }] }],
    ['a negative amount', { instalments: [{ ...good.instalments[0]!, fees: -1 }] }],
    ['a duplicate seq', { instalments: [...good.instalments, ...good.instalments] }],
    ['a zero payment', { payments: [pay('2025-01-10', 0)] }],
    ['a fractional penalty rate', { penaltyRateBp: 2.5 }],
    ['negative grace', { graceDays: -1 }],
    ['thresholds out of order', { stageThresholds: [2, 2, 3] }],
  ])('rejects %s', (_, change) => {
    expect(() => assessOverdue({ ...good, ...change })).toThrow(RangeError);
  });
});

describe('stage and money helpers', () => {
  it('stage is min(3, overdue instalments) by default', () => {
    expect([0, 1, 2, 3, 4, 12].map((n) => stageFor(n))).toEqual([0, 1, 2, 3, 3, 3]);
  });

  it('rounds half up exactly once', () => {
    expect(mulDivRoundHalfUp(3_000, 5, 10_000)).toBe(2); // 1.5 fen
    expect(mulDivRoundHalfUp(5_000, 5, 10_000)).toBe(3); // 2.5 fen
    expect(mulDivRoundHalfUp(99_999, 5, 10_000)).toBe(50); // 49.9995 fen
    expect(mulDivRoundHalfUp(2_999, 5, 10_000)).toBe(1); // 1.4995 fen
  });

  it('parses and formats yuan without floating point', () => {
    expect(parseYuan('1,234.50')).toBe(123_450);
    expect(parseYuan('¥0.1')).toBe(10);
    expect(parseYuan('-3')).toBe(-300);
    expect(() => parseYuan('1.005')).toThrow(RangeError);
    expect(formatYuan(123_456_789)).toBe('¥1,234,567.89');
    expect(formatYuan(-5)).toBe('-¥0.05');
  });
});
