import { describe, expect, it } from 'vitest';
import { dailySeries } from './history.ts';

describe('daily engine-hours series', () => {
  it('has one bar per day of the range, across a month end, missing days as zero', () => {
    const s = dailySeries('2026-02-27', '2026-03-02', [
      { day: '2026-02-28', engineHours: 7.5, reports: 100 },
      { day: '2026-03-02', engineHours: 2, reports: 20 },
    ]);
    expect(s.map((d) => [d.day, d.engineHours])).toEqual([
      ['2026-02-27', 0],
      ['2026-02-28', 7.5],
      ['2026-03-01', 0],
      ['2026-03-02', 2],
    ]);
  });

  it('is empty for a reversed range', () => {
    expect(dailySeries('2026-03-02', '2026-03-01', [])).toEqual([]);
  });
});
