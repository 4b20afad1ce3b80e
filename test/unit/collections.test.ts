import { describe, expect, it } from 'vitest';
import {
  type AccountSituation,
  type Activity,
  nextAction,
  openDisputes,
  PROMISE_LIMIT,
  promiseOutcomes,
  standingRecords,
} from '../../shared/collections.ts';
import type { Payment } from '../../shared/overdue.ts';

let nextId = 1;
function record(partial: Partial<Activity> & Pick<Activity, 'kind'>): Activity {
  return {
    id: nextId++,
    actor: 'collector',
    occurredAt: '2026-03-01T02:00:00Z',
    recordedAt: '2026-03-01T02:00:00Z',
    occurredOn: '2026-03-01',
    channel: 'phone',
    outcome: null,
    body: '',
    promisedDate: null,
    promisedAmount: null,
    disputeCategory: null,
    correctsId: null,
    resolvesId: null,
    ...partial,
  };
}
const pay = (date: string, amount: number): Payment => ({ date, amount, reference: `P-${date}-${amount}` });

describe('standing records', () => {
  it('a correction replaces what it corrects, and a correction of a correction replaces both', () => {
    const call = record({ kind: 'call', body: 'spoke to wife' });
    const fix1 = record({ kind: 'call', body: 'spoke to guarantor', correctsId: call.id });
    const fix2 = record({ kind: 'call', body: 'spoke to guarantor (brother)', correctsId: fix1.id });
    const note = record({ kind: 'note' });
    expect(standingRecords([call, fix1, fix2, note]).map((r) => r.id)).toEqual([fix2.id, note.id]);
  });
});

describe('open disputes', () => {
  it('a dispute is open until resolved; resolving a corrected dispute closes it', () => {
    const raised = record({ kind: 'dispute_raised', disputeCategory: 'quality' });
    expect(openDisputes([raised]).map((r) => r.id)).toEqual([raised.id]);
    const corrected = record({ kind: 'dispute_raised', disputeCategory: 'service', correctsId: raised.id });
    expect(openDisputes([raised, corrected]).map((r) => r.id)).toEqual([corrected.id]);
    const resolvedOriginal = record({ kind: 'dispute_resolved', resolvesId: raised.id });
    expect(openDisputes([raised, corrected, resolvedOriginal])).toEqual([]);
    const resolvedCorrection = record({ kind: 'dispute_resolved', resolvesId: corrected.id });
    expect(openDisputes([raised, corrected, resolvedCorrection])).toEqual([]);
  });

  it('two disputes: resolving one leaves the other open', () => {
    const a = record({ kind: 'dispute_raised', disputeCategory: 'quality' });
    const b = record({ kind: 'dispute_raised', disputeCategory: 'insurance' });
    const r = record({ kind: 'dispute_resolved', resolvesId: a.id });
    expect(openDisputes([a, b, r]).map((x) => x.id)).toEqual([b.id]);
  });
});

describe('promises to pay', () => {
  const promise = record({
    kind: 'promise_to_pay',
    occurredOn: '2026-03-01',
    promisedDate: '2026-03-10',
    promisedAmount: 500_000,
  });
  const cases: Array<[string, Payment[], string, string, number]> = [
    ['nothing paid, before the date', [], '2026-03-05', 'pending', 0],
    ['nothing paid, on the date', [], '2026-03-10', 'pending', 0],
    ['nothing paid, the day after', [], '2026-03-11', 'broken', 0],
    ['paid in full on the date', [pay('2026-03-10', 500_000)], '2026-03-11', 'kept', 500_000],
    [
      'paid in two parts',
      [pay('2026-03-02', 200_000), pay('2026-03-09', 300_000)],
      '2026-03-20',
      'kept',
      500_000,
    ],
    ['part paid, date passed', [pay('2026-03-02', 200_000)], '2026-03-20', 'broken', 200_000],
    ['paid a day late', [pay('2026-03-11', 500_000)], '2026-03-20', 'broken', 0],
    ['paid before the promise was made', [pay('2026-02-28', 500_000)], '2026-03-20', 'broken', 0],
    ['payment after as-of is not yet known', [pay('2026-03-08', 500_000)], '2026-03-05', 'pending', 0],
    ['kept early, before the date', [pay('2026-03-03', 600_000)], '2026-03-04', 'kept', 600_000],
  ];
  it.each(cases)('%s', (_what, payments, asOf, status, paid) => {
    const [outcome] = promiseOutcomes([promise], payments, asOf);
    expect(outcome?.status).toBe(status);
    expect(outcome?.paidTowards).toBe(paid);
  });

  it('a corrected promise counts once, with the corrected terms', () => {
    const fixed = record({
      kind: 'promise_to_pay',
      occurredOn: '2026-03-01',
      promisedDate: '2026-03-15',
      promisedAmount: 300_000,
      correctsId: promise.id,
    });
    const outcomes = promiseOutcomes([promise, fixed], [pay('2026-03-14', 300_000)], '2026-03-20');
    expect(outcomes).toEqual([
      {
        activityId: fixed.id,
        promisedDate: '2026-03-15',
        promisedAmount: 300_000,
        paidTowards: 300_000,
        status: 'kept',
      },
    ]);
  });
});

describe('next action', () => {
  const base: AccountSituation = {
    stage: 0,
    settled: false,
    openDispute: false,
    pendingPromise: null,
    brokenPromises: 0,
  };
  const promise = { promisedDate: '2026-04-01', promisedAmount: 100 };
  const cases: Array<[string, Partial<AccountSituation>, string, boolean]> = [
    ['current account', {}, 'none', false],
    ['settled account at any stage', { stage: 3, settled: true }, 'none', false],
    ['stage 1', { stage: 1 }, 'remind', false],
    ['stage 2', { stage: 2 }, 'lawyer_letter_visit', false],
    ['stage 3', { stage: 3 }, 'locate_and_tow', true],
    ['stage 3 with an open dispute', { stage: 3, openDispute: true }, 'resolve_dispute', false],
    ['stage 2 with a pending promise', { stage: 2, pendingPromise: promise }, 'await_promise', false],
    ['stage 3 with a pending promise', { stage: 3, pendingPromise: promise }, 'await_promise', false],
    [
      'stage 3, pending promise after too many broken ones',
      { stage: 3, pendingPromise: promise, brokenPromises: PROMISE_LIMIT },
      'locate_and_tow',
      true,
    ],
    [
      'stage 1, one broken promise and a new one pending',
      { stage: 1, pendingPromise: promise, brokenPromises: PROMISE_LIMIT - 1 },
      'await_promise',
      false,
    ],
    [
      'dispute wins over a promise',
      { stage: 3, openDispute: true, pendingPromise: promise },
      'resolve_dispute',
      false,
    ],
  ];
  it.each(cases)('%s → %s', (_what, situation, code, eligible) => {
    const action = nextAction({ ...base, ...situation });
    expect(action.code).toBe(code);
    expect(action.gpsStopEligible).toBe(eligible);
    expect(action.text.length).toBeGreaterThan(10);
  });

  it('says "no more extensions" once promises have been broken too often', () => {
    expect(nextAction({ ...base, stage: 3, brokenPromises: 3 }).text).toMatch(/no more extensions/);
    expect(nextAction({ ...base, stage: 3, brokenPromises: 1 }).text).not.toMatch(/no more extensions/);
  });
});
