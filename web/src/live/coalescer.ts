/**
 * Collapses bursts: items pushed within one interval are delivered together, once, keeping only
 * the latest per key. The map therefore updates at most every `intervalMs`, however fast the
 * socket delivers, and a device that moved ten times in a burst is drawn once, at its last fix.
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
};

export interface CoalescerOptions<T> {
  intervalMs: number;
  key: (item: T) => string;
  /** Which of two items with the same key to keep; default the later one. */
  pick?: (current: T, next: T) => T;
  flush: (batch: T[]) => void;
  timers?: Timers;
}

export interface Coalescer<T> {
  push(items: Iterable<T>): void;
  /** Delivers what is pending now, without waiting for the interval. */
  flushNow(): void;
  /** Drops what is pending. */
  clear(): void;
  readonly pending: number;
}

export function createCoalescer<T>(options: CoalescerOptions<T>): Coalescer<T> {
  const { intervalMs, key, flush } = options;
  const pick = options.pick ?? ((_current: T, next: T) => next);
  const timers = options.timers ?? realTimers;
  let pending = new Map<string, T>();
  let handle: unknown = null;

  const cancel = () => {
    if (handle !== null) timers.clearTimeout(handle);
    handle = null;
  };
  const deliver = () => {
    cancel();
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending = new Map();
    flush(batch);
  };

  return {
    push(items) {
      for (const item of items) {
        const k = key(item);
        const current = pending.get(k);
        pending.set(k, current === undefined ? item : pick(current, item));
      }
      // The first item of a quiet period starts the clock; later ones ride along.
      if (pending.size > 0 && handle === null) handle = timers.setTimeout(deliver, intervalMs);
    },
    flushNow: deliver,
    clear() {
      cancel();
      pending = new Map();
    },
    get pending() {
      return pending.size;
    },
  };
}
