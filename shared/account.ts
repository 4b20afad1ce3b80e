/**
 * An account as collections sees it on a day: the overdue engine's figures, the promises and
 * disputes from the collection records, and the next action the ladder asks for. Pure.
 */
import type { IsoDate } from './calendar-date.ts';
import {
  type Activity,
  type NextAction,
  nextAction,
  openDisputes,
  type PromiseOutcome,
  promiseOutcomes,
} from './collections.ts';
import { assessOverdue, type Instalment, type OverdueAssessment, type Payment } from './overdue.ts';

export interface AccountInputs {
  instalments: readonly Instalment[];
  payments: readonly Payment[];
  activities: readonly Activity[];
  graceDays: number;
  penaltyRateBp: number;
  stageThresholds?: readonly [number, number, number];
}

export interface AccountAssessment {
  overdue: OverdueAssessment;
  promises: PromiseOutcome[];
  openDisputes: Activity[];
  nextAction: NextAction;
}

export function assessAccount(inputs: AccountInputs, asOf: IsoDate): AccountAssessment {
  const overdue = assessOverdue({ ...inputs, asOf });
  const promises = promiseOutcomes(inputs.activities, inputs.payments, asOf);
  const disputes = openDisputes(inputs.activities);
  // The latest pending promise is the one the collector follows up.
  const pending = promises
    .filter((p) => p.status === 'pending')
    .sort((a, b) => (a.promisedDate < b.promisedDate ? 1 : -1));
  return {
    overdue,
    promises,
    openDisputes: disputes,
    nextAction: nextAction({
      stage: overdue.stage,
      settled: overdue.settled,
      openDispute: disputes.length > 0,
      pendingPromise: pending[0] ?? null,
      brokenPromises: promises.filter((p) => p.status === 'broken').length,
    }),
  };
}
