/**
 * The chaos run's count (test/chaos/ledger.ts) and its live-gap measure (test/chaos/live-watch.ts):
 * what the run calls lost, duplicated and the longest gap, on reports and updates made up here.
 */
import { describe, expect, it } from 'vitest';
import { countBits, type StoredGroup, tally } from '../chaos/ledger.ts';
import { GapTracker } from '../chaos/live-watch.ts';

/** Bitmaps of acknowledged sequence numbers, one per device. */
const acked = (...perDevice: number[][]) =>
  perDevice.map((seqs) => {
    const bits = new Uint8Array(4);
    for (const s of seqs) bits[s >> 3]! |= 1 << (s & 7);
    return bits;
  });
const stored = (rows: [string, number, number?][]): StoredGroup[] =>
  rows.map(([deviceId, seq, copies = 1]) => ({ deviceId, seq, copies }));

describe('chaos ledger', () => {
  const ids = ['A', 'B'];

  it('counts nothing lost or duplicated when every acknowledged report is stored once', () => {
    const t = tally(
      ids,
      acked([0, 1, 2], [0, 1, 2]),
      stored([
        ['A', 0],
        ['A', 1],
        ['A', 2],
        ['B', 0],
        ['B', 1],
        ['B', 2],
      ]),
      2,
    );
    expect(t).toMatchObject({ published: 6, stored: 6, lost: 0, duplicates: 0, lostSample: [] });
  });

  it('calls an acknowledged report missing from the database lost, and says when it was due', () => {
    // Report k of 2 devices at 4 reports/s: device k mod 2, seq k div 2, due at k / 4 s.
    const t = tally(
      ids,
      acked([0, 1, 2], [0, 1, 2]),
      stored([
        ['A', 0],
        ['A', 1],
        ['A', 2],
        ['B', 0],
        ['B', 2],
      ]),
      4,
    );
    expect(t.lost).toBe(1);
    expect(t.lostSample).toEqual([{ deviceId: 'B', seq: 1, dueAtSeconds: 0.75 }]);
    expect(t.lostBySecond).toEqual({ '0': 1 });
  });

  it('does not call a report lost that was never acknowledged, but counts it stored when it arrived', () => {
    const t = tally(
      ids,
      acked([0], [0]),
      stored([
        ['A', 0],
        ['A', 1],
        ['B', 0],
      ]),
      2,
    );
    expect(t).toMatchObject({ published: 2, stored: 3, lost: 0 });
  });

  it('counts each copy beyond the first as a duplicate', () => {
    const t = tally(
      ids,
      acked([0, 1], [0]),
      stored([
        ['A', 0, 2],
        ['A', 1],
        ['B', 0, 3],
      ]),
      2,
    );
    expect(t).toMatchObject({ published: 3, stored: 3, lost: 0, duplicates: 3 });
  });

  it('counts bits', () => {
    expect(countBits(new Uint8Array([0xff, 0x01, 0]))).toBe(9);
  });
});

describe('live gap', () => {
  it('is the longest stretch without an update, from the window start to its end', () => {
    const g = new GapTracker();
    g.open(1000);
    for (const at of [1500, 2000, 5000, 5200]) g.update(at);
    expect(g.close(6000)).toBe(3000);
  });

  it('counts the stretch before the first update and after the last one', () => {
    const g = new GapTracker();
    g.open(0);
    g.update(4000);
    expect(g.close(4500)).toBe(4000);
    const h = new GapTracker();
    h.open(0);
    h.update(100);
    expect(h.close(9100)).toBe(9000);
  });

  it('ignores updates from before the window', () => {
    const g = new GapTracker();
    g.open(10_000);
    g.update(5000);
    g.update(11_000);
    expect(g.close(12_000)).toBe(1000);
  });
});
