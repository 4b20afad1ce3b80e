/**
 * A clock a test moves forward: real time plus whatever the test has skipped. Timers keep ticking
 * in real time, so the platform's loops run as usual; what they find due (an expiry, a window's
 * end) is read from this clock, and "ten minutes later" takes no time at all.
 */
export interface TestClock {
  now(): number;
  /** Moves the clock `ms` forward. */
  advance(ms: number): void;
}

export function testClock(): TestClock {
  let skipped = 0;
  return {
    now: () => Date.now() + skipped,
    advance(ms) {
      if (!(ms >= 0)) throw new Error(`a clock only moves forward, not by ${ms} ms`);
      skipped += ms;
    },
  };
}
