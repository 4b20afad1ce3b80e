/**
 * The GPS-stop fault campaign: `npm run safety:campaign -- --runs N [--seed S] [--steps K]`.
 * fast-check generates runs of model-based commands (run.ts) against the real command service,
 * dispatcher, contract service, ingest store and audit chain (rig.ts) on PGlite, or on PostgreSQL
 * when DATABASE_URL is set, with reference-firmware boxes behind a faulty network. A failing run is
 * shrunk and printed with its seed and path, so it can be replayed and kept as a regression test.
 * The last line printed is one JSON object:
 * {"runs","steps","seed","unsafeEngagements","unjustifiedEngagements","lateReleases",
 *  "releaseP99Minutes","stuckCommands","chainValid"}; the exit code is 1 when any run failed.
 */
import fc from 'fast-check';
import { type Epoch, openEpoch } from './rig.ts';
import { type Action, emptyTally, Run, type Tally } from './run.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const runs = Number(option('runs') ?? 100);
const seed = Number(option('seed') ?? Date.now() % 2 ** 31);
const maxSteps = Number(option('steps') ?? 30);
/** Runs share a database in epochs of this many; then a fresh one (and the chain is verified). */
const EPOCH_RUNS = Number(option('epoch') ?? 100);
if (!Number.isSafeInteger(runs) || runs < 1) throw new Error('--runs takes a positive whole number');

const who = <T extends string>(...names: T[]) => fc.constantFrom(...names);
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .constantFrom(
        10_000,
        MINUTE,
        4 * MINUTE,
        10 * MINUTE,
        HOUR,
        6 * HOUR,
        DAY,
        3 * DAY + HOUR,
        8 * DAY,
        31 * DAY,
      )
      .map((ms) => ({ a: 'advance' as const, ms })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      a: fc.constant('pay' as const),
      by: who('c1', 'r1', 'admin'),
      how: fc.constantFrom('manual' as const, 'import' as const),
      part: fc.constantFrom('one' as const, 'all' as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('confirm' as const), by: who('r1', 'r2', 'c1') }) },
  { weight: 2, arbitrary: fc.record({ a: fc.constant('reverse' as const), by: who('r1', 'admin') }) },
  {
    weight: 4,
    arbitrary: fc.record({
      a: fc.constant('warn' as const),
      by: who('c1', 'r1'),
      channel: fc.constantFrom('sms' as const, 'letter' as const, 'phone' as const, 'visit' as const),
      claimedDaysAgo: fc.constantFrom(-1, 0, 4, 4, 40, 400),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      a: fc.constant('warnTwice' as const),
      by: who('c1', 'r1'),
      claimedDaysAgo: fc.constantFrom(0, 4, 4, 40),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ a: 'promise' as const, by: 'c1' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0, 5, 60)
      .map((claimedDaysAgo) => ({ a: 'dispute' as const, by: 'c1' as const, claimedDaysAgo })),
  },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('resolve' as const), by: who('c1', 'r1') }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('override' as const), by: who('r1', 'r2') }) },
  {
    weight: 5,
    arbitrary: fc.record({
      a: fc.constant('request' as const),
      by: who('r1', 'r2'),
      type: fc.constantFrom(
        'immobilize' as const,
        'immobilize' as const,
        'release' as const,
        'locate' as const,
      ),
    }),
  },
  { weight: 8, arbitrary: fc.record({ a: fc.constant('gpsStop' as const), by: who('r1', 'r2') }) },
  {
    weight: 5,
    arbitrary: fc.record({ a: fc.constant('approve' as const), by: who('r1', 'r2', 'c1'), which: fc.nat(7) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ a: fc.constant('reject' as const), by: who('r1', 'r2'), which: fc.nat(7) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ a: fc.constant('cancel' as const), by: who('r1', 'r2'), which: fc.nat(7) }),
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom('parked' as const, 'working' as const, 'driving' as const, 'trailer' as const)
      .map((mode) => ({ a: 'machine' as const, mode })),
  },
  { weight: 1, arbitrary: fc.boolean().map((known) => ({ a: 'sensors' as const, known })) },
  { weight: 1, arbitrary: fc.constant({ a: 'reboot' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(-3 * DAY, -DAY, -10 * MINUTE, 0, 10 * MINUTE, DAY, 3 * DAY)
      .map((ms) => ({ a: 'skew' as const, ms })),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'none' as const,
        'drop' as const,
        'duplicate' as const,
        'delay' as const,
        'reorder' as const,
      )
      .map((fault) => ({ a: 'fault' as const, fault })),
  },
  { weight: 2, arbitrary: fc.boolean().map((online) => ({ a: 'online' as const, online })) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('broker' as const, 'api' as const)
      .map((what) => ({ a: 'restart' as const, what })),
  },
  { weight: 1, arbitrary: fc.boolean().map((enabled) => ({ a: 'device' as const, enabled })) },
);

/** A step as a fast-check command: always applicable; the run itself is model and real system. */
class Step implements fc.AsyncCommand<Run, Run> {
  constructor(readonly action: Action) {}
  check(): boolean {
    return true;
  }
  async run(_model: Run, run: Run): Promise<void> {
    await run.step(this.action);
  }
  toString(): string {
    return JSON.stringify(this.action);
  }
}

const stepsArb = fc.commands([actionArb.map((a) => new Step(a))], { maxCommands: maxSteps, size: 'max' });

interface Current {
  epoch: Epoch;
  close: () => Promise<boolean>;
  runs: number;
}

const clock = { now: Date.parse('2026-03-02T01:00:00Z') };
let current: Current | null = null;
let chainValid = true;
let done = 0;
let failing = false;
const tally = emptyTally();
const shrinkTally = emptyTally();

async function closeEpoch(): Promise<void> {
  if (!current) return;
  if (!(await current.close())) {
    chainValid = false;
    console.error('the audit chain does not verify');
  }
  current = null;
}

async function epoch(): Promise<Epoch> {
  if (current && current.runs >= EPOCH_RUNS) await closeEpoch();
  if (!current) {
    current = { ...(await openEpoch(clock)), runs: 0 };
  }
  current.runs++;
  return current.epoch;
}

let lastViolations: string[] = [];
let opened = 0;

const property = fc.asyncProperty(
  fc.constantFrom(true, true, true, false),
  stepsArb,
  async (warned, steps) => {
    const e = await epoch();
    // Shrinking replays runs: their figures are kept apart from the campaign's.
    const t: Tally = failing ? shrinkTally : tally;
    clock.now += DAY;
    const run = await Run.open(e, `${seed}-${++opened}`, t, { warned });
    try {
      await fc.asyncModelRun(() => ({ model: run, real: run }), steps);
      await run.finish();
    } catch (err) {
      await run.rig.stopApi().catch(() => {});
      throw err;
    }
    await run.retire();
    if (!failing) done++;
    if (!failing && done % 50 === 0) process.stderr.write(`  ${done}/${runs} runs, ${t.steps} steps\n`);
    if (run.violations.length > 0) {
      failing = true;
      lastViolations = run.violations;
      return false;
    }
    return true;
  },
);

const started = Date.now();
const result = await fc.check(property, { numRuns: runs, seed, endOnFailure: false, verbose: 0 });
await closeEpoch();

const sorted = [...tally.releaseMinutes].sort((a, b) => a - b);
const p99 =
  sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0);
if (result.failed) {
  console.error(
    `\nFAILED after ${result.numRuns} run(s); seed ${result.seed}, path ${result.counterexamplePath}`,
  );
  console.error(`replay: npm run safety:campaign -- --runs ${runs} --seed ${result.seed}`);
  console.error('shrunk steps:');
  console.error(`warned beforehand: ${String(result.counterexample?.[0])}`);
  console.error(String(result.counterexample?.[1] ?? ''));
  console.error('what went wrong (last shrunk run):');
  for (const v of lastViolations) console.error(`  - ${v}`);
  if (result.errorInstance) console.error(result.errorInstance);
}
console.error(
  `${done} runs, ${tally.steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s; ${tally.engagements} engagements, ${sorted.length} releases after a cure`,
);
console.log(
  JSON.stringify({
    runs: done,
    steps: tally.steps,
    seed,
    unsafeEngagements: tally.unsafeEngagements,
    unjustifiedEngagements: tally.unjustifiedEngagements,
    lateReleases: tally.lateReleases,
    releaseP99Minutes: Math.round(p99 * 10) / 10,
    stuckCommands: tally.stuckCommands,
    chainValid,
  }),
);
process.exit(result.failed || !chainValid ? 1 : 0);
