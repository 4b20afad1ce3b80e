/**
 * A job (rewriting the password file from the registry) that runs one at a time, however many ask
 * for it. Whoever asks wants a run that starts after the asking — a run that started earlier may
 * have read the registry before the change the caller knows of. So a request made while a run is
 * going waits for one more run after it, and every request made meanwhile shares that run: a burst
 * of requests costs two runs, not one each.
 *
 * `now()` is for a caller that waits (the first rewrite at start); `soon(ms)` for news of a change,
 * which nobody waits for: it waits `ms` first, so that changes arriving one by one, each after the
 * previous run has ended, still share one run.
 */
export interface CoalescedRun<T> {
  /** A run that starts after this call: the one queued behind the current run, or a new one. */
  now(): Promise<T>;
  /** A run within `delayMs`, unless one that starts after this call is already due. */
  soon(delayMs: number): void;
  /** No runs from now on; resolves when the one going, if any, has ended. */
  stop(): Promise<void>;
}

export function coalescedRun<T>(job: () => Promise<T>, onSoonError: (e: unknown) => void): CoalescedRun<T> {
  let running: Promise<T> | null = null;
  let next: Promise<T> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;

  const start = (): Promise<T> => {
    const current = job().finally(() => {
      if (running === current) running = null;
    });
    running = current;
    return current;
  };

  const now = (): Promise<T> => {
    if (stopped) return Promise.reject(new Error('stopped'));
    // The run returned below starts after this call, so it covers what the timer waited for.
    if (timer) clearTimeout(timer);
    timer = null;
    if (next) return next;
    if (!running) return start();
    const after = running
      .catch(() => undefined)
      .then(() => {
        next = null;
        if (stopped) throw new Error('stopped');
        return start();
      });
    next = after;
    return after;
  };

  return {
    now,
    soon(delayMs) {
      if (stopped || timer || next) return;
      timer = setTimeout(() => {
        timer = null;
        now().catch((e) => {
          if (!stopped) onSoonError(e);
        });
      }, delayMs);
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await Promise.allSettled([running, next]);
    },
  };
}
