/** The password file's rewrite scheduling: one run at a time, every request answered by a run that starts after it. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { coalescedRun } from '../../broker/coalesced-run.ts';

/** A job whose runs the test ends one by one; each run returns its number (1, 2, …). */
function controlledJob() {
  const ends: (() => void)[] = [];
  let started = 0;
  const job = () => {
    const n = ++started;
    return new Promise<number>((resolve) => ends.push(() => resolve(n)));
  };
  return {
    job,
    started: () => started,
    /** Ends the oldest unfinished run, and lets what awaits it go on. */
    async endRun() {
      ends.shift()?.();
      // The promise hops between a run's end and the next one's start; no timers (they may be fake).
      for (let i = 0; i < 20; i++) await Promise.resolve();
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('coalescedRun', () => {
  it('answers a burst of requests made during a run with one run that starts after them', async () => {
    const j = controlledJob();
    const run = coalescedRun(j.job, () => {});
    const first = run.now();
    expect(j.started()).toBe(1);
    // A run that started before these requests may have read too early: they wait for the next.
    const burst = Array.from({ length: 100 }, () => run.now());
    expect(j.started()).toBe(1);
    await j.endRun();
    expect(await first).toBe(1);
    expect(j.started()).toBe(2);
    await j.endRun();
    expect(new Set(await Promise.all(burst))).toEqual(new Set([2]));
    expect(j.started()).toBe(2);
    await run.stop();
  });

  it('runs on news once the delay is over, one run for many, none extra when one is queued', async () => {
    vi.useFakeTimers();
    const j = controlledJob();
    const errors: unknown[] = [];
    const run = coalescedRun(j.job, (e) => errors.push(e));
    run.soon(200);
    run.soon(200);
    expect(j.started()).toBe(0);
    await vi.advanceTimersByTimeAsync(200);
    expect(j.started()).toBe(1);
    // During a run, news waits its delay, then queues behind the run; news meanwhile shares it.
    run.soon(200);
    await vi.advanceTimersByTimeAsync(200);
    run.soon(200);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(j.started()).toBe(1);
    await j.endRun();
    expect(j.started()).toBe(2);
    await j.endRun();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(j.started()).toBe(2);
    expect(errors).toEqual([]);
    await run.stop();
  });

  it('lets a waiting caller take over pending news: the caller’s run covers it', async () => {
    vi.useFakeTimers();
    const j = controlledJob();
    const run = coalescedRun(j.job, () => {});
    run.soon(200);
    const now = run.now();
    expect(j.started()).toBe(1);
    await j.endRun();
    expect(await now).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(j.started()).toBe(1);
    await run.stop();
  });

  it('hands a failed run on news to onSoonError, and a stopped one runs nothing more', async () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    let runs = 0;
    const run = coalescedRun(
      async () => {
        runs++;
        throw new Error('disk full');
      },
      (e) => errors.push(e),
    );
    run.soon(10);
    await vi.advanceTimersByTimeAsync(10);
    expect(errors).toEqual([new Error('disk full')]);
    run.soon(10);
    await run.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(runs).toBe(1);
    await expect(run.now()).rejects.toThrow(/stopped/);
  });
});
