import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createCoalescer } from './coalescer.ts';

interface Item {
  id: string;
  v: number;
}

function setup(intervalMs = 300, pick?: (a: Item, b: Item) => Item) {
  const batches: Item[][] = [];
  const c = createCoalescer<Item>({
    intervalMs,
    key: (i) => i.id,
    flush: (b) => batches.push(b),
    ...(pick ? { pick } : {}),
  });
  return { c, batches };
}

describe('createCoalescer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collapses a burst into one delivery with the latest item per key', () => {
    const { c, batches } = setup();
    for (let v = 1; v <= 100; v++) c.push([{ id: `d${v % 3}`, v }]);
    expect(batches).toHaveLength(0);
    expect(c.pending).toBe(3);
    vi.advanceTimersByTime(300);
    expect(batches).toHaveLength(1);
    const byId = Object.fromEntries(batches[0]!.map((i) => [i.id, i.v]));
    expect(byId).toEqual({ d0: 99, d1: 100, d2: 98 });
    expect(c.pending).toBe(0);
  });

  it('delivers at most once per interval under a steady stream', () => {
    const { c, batches } = setup(300);
    // One message every 10 ms for 3 s.
    for (let t = 0; t < 3000; t += 10) {
      c.push([{ id: 'a', v: t }]);
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(300);
    expect(batches.length).toBeGreaterThanOrEqual(9);
    expect(batches.length).toBeLessThanOrEqual(11);
    expect(batches.at(-1)).toEqual([{ id: 'a', v: 2990 }]);
  });

  it('uses pick to decide between two items of one key', () => {
    const { c, batches } = setup(300, (a, b) => (b.v >= a.v ? b : a));
    c.push([
      { id: 'a', v: 5 },
      { id: 'a', v: 2 },
    ]);
    vi.advanceTimersByTime(300);
    expect(batches).toEqual([[{ id: 'a', v: 5 }]]);
  });

  it('does nothing when idle, flushes on demand, and can drop what is pending', () => {
    const { c, batches } = setup();
    vi.advanceTimersByTime(1000);
    c.push([]);
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(0);

    c.push([{ id: 'a', v: 1 }]);
    c.flushNow();
    expect(batches).toEqual([[{ id: 'a', v: 1 }]]);
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(1);

    c.push([{ id: 'b', v: 1 }]);
    c.clear();
    vi.advanceTimersByTime(1000);
    expect(batches).toHaveLength(1);
  });
});
