import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addDays,
  addMonthsClamped,
  daysBetween,
  fromDayNumber,
  isIsoDate,
  localDate,
  toDayNumber,
} from '../../shared/calendar-date.ts';

describe('calendar dates for the overdue engine', () => {
  it('counts days across month ends, leap days and years', () => {
    expect(toDayNumber('1970-01-01')).toBe(0);
    expect(daysBetween('2024-02-28', '2024-03-01')).toBe(2);
    expect(daysBetween('2025-02-28', '2025-03-01')).toBe(1);
    expect(daysBetween('2024-12-31', '2025-01-01')).toBe(1);
    expect(addDays('2024-02-29', 365)).toBe('2025-02-28');
    expect(addDays('2000-02-28', 1)).toBe('2000-02-29');
    expect(addDays('1900-02-28', 1)).toBe('1900-03-01');
  });

  it('agrees with Date.UTC on every day of four centuries', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1800, 0, 1) / 864e5, max: Date.UTC(2200, 0, 1) / 864e5 }),
        (day) => {
          const iso = new Date(day * 864e5).toISOString().slice(0, 10);
          expect(fromDayNumber(day)).toBe(iso);
          expect(toDayNumber(iso)).toBe(day);
        },
      ),
    );
  });

  it('rejects dates that do not exist', () => {
    for (const bad of ['2025-02-29', '2024-13-01', '2024-04-31', '2024-4-1', '20240401', '0000-01-01', '']) {
      expect(isIsoDate(bad), bad).toBe(false);
      expect(() => toDayNumber(bad)).toThrow(RangeError);
    }
    expect(isIsoDate('2024-02-29')).toBe(true);
  });

  it('adds months from the anchor, clamping to the end of short months', () => {
    expect(addMonthsClamped('2024-01-31', 1)).toBe('2024-02-29');
    expect(addMonthsClamped('2023-01-31', 1)).toBe('2023-02-28');
    expect(addMonthsClamped('2024-01-31', 2)).toBe('2024-03-31');
    expect(addMonthsClamped('2024-02-29', 12)).toBe('2025-02-28');
    expect(addMonthsClamped('2024-12-15', 1)).toBe('2025-01-15');
    expect(addMonthsClamped('2025-03-31', -1)).toBe('2025-02-28');
    expect(addMonthsClamped('2025-01-15', -13)).toBe('2023-12-15');
  });

  it('turns an instant into the local date of the contract time zone', () => {
    const lateEveningUtc = Date.UTC(2025, 2, 14, 23, 30); // 07:30 on 15 March in Shanghai
    expect(localDate(lateEveningUtc, 'Asia/Shanghai')).toBe('2025-03-15');
    expect(localDate(lateEveningUtc, 'UTC')).toBe('2025-03-14');
    expect(localDate(Date.UTC(2025, 2, 15, 15, 59, 59, 999), 'Asia/Shanghai')).toBe('2025-03-15');
    expect(localDate(Date.UTC(2025, 2, 15, 16, 0), 'Asia/Shanghai')).toBe('2025-03-16');
    expect(localDate(Date.UTC(2024, 1, 29, 12), 'America/New_York')).toBe('2024-02-29');
    expect(() => localDate(0, 'Not/AZone')).toThrow(RangeError);
    expect(() => localDate(Number.NaN, 'UTC')).toThrow(RangeError);
  });
});
