/**
 * The GPS-stop fault campaign's counterexamples, kept as named regression tests: each replays the
 * shrunk steps on the real loop (test/safety/run.ts) and expects the run's judgement to find
 * nothing wrong. And a short campaign, so the campaign itself stays runnable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Epoch, openEpoch } from '../safety/rig.ts';
import { type Action, emptyTally, Run } from '../safety/run.ts';

const DAY = 86_400_000;
const clock = { now: Date.parse('2026-03-02T01:00:00Z') };
let epoch: Epoch;
let close: () => Promise<boolean>;
let runs = 0;

beforeAll(async () => {
  ({ epoch, close } = await openEpoch(clock));
});

afterAll(async () => {
  expect(await close(), 'the audit chain verifies').toBe(true);
});

async function replay(steps: Action[], { warned = true } = {}): Promise<{ violations: string[]; run: Run }> {
  clock.now += DAY;
  const run = await Run.open(epoch, `reg-${++runs}`, emptyTally(), { warned });
  for (const step of steps) await run.step(step);
  await run.finish();
  await run.retire();
  return { violations: run.violations, run };
}

describe('GPS-stop campaign regressions', () => {
  it('a machine loaded on a trailer after the request is not stopped when the approved command reaches its box', async () => {
    // The box engaged on its last report's reading (parked) while the machine was on a trailer.
    const { violations, run } = await replay([
      { a: 'request', by: 'r1', type: 'immobilize' },
      { a: 'machine', mode: 'trailer' },
      { a: 'approve', by: 'r2', which: 0 },
      { a: 'warn', by: 'c1', channel: 'sms', claimedDaysAgo: -1 },
    ]);
    expect(violations).toEqual([]);
    expect(run.rig.engagements.filter((e) => e.unsafe)).toEqual([]);
  });

  it('a cure frees a stopped machine even when a later immobilize was refused by the box', async () => {
    // The second immobilize was refused (the box's clock was three days behind), and release on cure
    // looked only at the latest immobilize sent: refused, so "nothing to release".
    const { violations, run } = await replay([
      { a: 'gpsStop', by: 'r1' },
      { a: 'skew', ms: -3 * DAY },
      { a: 'advance', ms: 10_000 },
      { a: 'gpsStop', by: 'r1' },
      { a: 'cancel', by: 'r1', which: 0 },
    ]);
    expect(violations).toEqual([]);
    expect(run.rig.engaged).toBe(false);
  });

  it('an immobilize held back by the network and delivered after the cure is released at once', async () => {
    // The box took the immobilize after the account was cured (the link had held it back) and
    // engaged; the release on cure followed it on the same link.
    const { violations, run } = await replay([
      { a: 'fault', fault: 'delay' },
      { a: 'gpsStop', by: 'r1' },
      { a: 'sensors', known: false },
    ]);
    expect(violations).toEqual([]);
    expect(run.rig.engaged).toBe(false);
  });

  it('a payment by hand waits for a second person while an expired immobilize may still hold the box', async () => {
    // The immobilize went out, its answer was lost, and it expired a day later; the platform sent a
    // disarm. Until the box acknowledges that disarm it may still be armed, but the payment booked
    // by hand a second after the expiry counted at once: "no GPS stop under way".
    const { violations } = await replay([
      { a: 'fault', fault: 'drop' },
      { a: 'gpsStop', by: 'r1' },
      { a: 'advance', ms: DAY },
      { a: 'pay', by: 'c1', how: 'manual', part: 'one' },
      { a: 'resolve', by: 'c1' },
    ]);
    expect(violations).toEqual([]);
  });

  it('a payment by hand waits for a second person while an offline box may still be armed', async () => {
    // The box went offline armed; eight days later its immobilize had expired on the platform, the
    // disarm could not reach the box, and a payment by hand cured the account on its own.
    const { violations } = await replay([
      { a: 'gpsStop', by: 'r1' },
      { a: 'online', online: false },
      { a: 'advance', ms: 8 * DAY },
      { a: 'pay', by: 'c1', how: 'manual', part: 'all' },
      { a: 'dispute', by: 'c1', claimedDaysAgo: 0 },
    ]);
    expect(violations).toEqual([]);
  });

  it('the happy path: stopped when parked, freed when a bank file cures the account', async () => {
    const { violations, run } = await replay([
      { a: 'gpsStop', by: 'r1' },
      { a: 'advance', ms: 60_000 },
    ]);
    expect(violations).toEqual([]);
    expect(run.rig.engagements).toHaveLength(1);
    expect(run.rig.engaged).toBe(false);
  });
});
