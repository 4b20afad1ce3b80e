import { describe, expect, it } from 'vitest';
import { Batcher } from '../../ingest/batcher.ts';

const tick = () => new Promise((r) => setImmediate(r));

describe('group-commit batcher', () => {
  it('writes a lone item at once and groups items that arrive during a write', async () => {
    const writes: number[][] = [];
    let release!: () => void;
    const batcher = new Batcher<number>({
      maxBatch: 100,
      write: async (items) => {
        writes.push(items);
        if (writes.length === 1) await new Promise<void>((r) => (release = r));
      },
    });
    batcher.add(1);
    await tick();
    for (let i = 2; i <= 5; i++) batcher.add(i);
    expect(batcher.depth).toBe(4);
    release();
    await batcher.drain();
    expect(writes).toEqual([[1], [2, 3, 4, 5]]);
  });

  it('never writes more than maxBatch at once', async () => {
    const sizes: number[] = [];
    const batcher = new Batcher<number>({
      maxBatch: 3,
      write: async (items) => void sizes.push(items.length),
    });
    for (let i = 0; i < 8; i++) batcher.add(i);
    await batcher.drain();
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(8);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(3);
  });

  it('retries a failed write with the same items, in order, and loses none', async () => {
    const written: number[] = [];
    let failures = 2;
    const errors: number[] = [];
    const batcher = new Batcher<number>({
      maxBatch: 10,
      write: async (items) => {
        if (failures-- > 0) throw new Error('database down');
        written.push(...items);
      },
      onError: (_e, attempt) => errors.push(attempt),
      sleep: async () => {},
    });
    batcher.add(1);
    batcher.add(2);
    await batcher.drain();
    expect(errors).toEqual([0, 1]);
    expect(written).toEqual([1, 2]);
  });
});
