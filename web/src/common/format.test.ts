import { describe, expect, it } from 'vitest';
import { formatAgo, formatDate, formatDistance, formatMoney, formatNumber, UNKNOWN } from './format.ts';

describe('locale formatting', () => {
  it('shows integer fen as yuan with two decimals, grouped per locale', () => {
    expect(formatMoney(12_345_600, 'en')).toBe('CN¥123,456.00');
    expect(formatMoney(12_345_600, 'zh-CN')).toBe('¥123,456.00');
    expect(formatMoney(5, 'en')).toBe('CN¥0.05');
    expect(formatMoney(null, 'en')).toBe(UNKNOWN);
  });

  it('groups numbers per locale', () => {
    expect(formatNumber(20000, 'en')).toBe('20,000');
    expect(formatNumber(20000, 'de')).toBe('20.000');
    expect(formatNumber(1.25, 'en', 1)).toBe('1.3');
  });

  it('shows a contract-local date as that date whatever the browser zone', () => {
    expect(formatDate('2026-03-01', 'en')).toBe('Mar 1, 2026');
    expect(formatDate('2026-03-01', 'zh-CN')).toBe('2026年3月1日');
    expect(formatDate('bad', 'en')).toBe(UNKNOWN);
  });

  it('says how long ago in the largest whole unit, in the language asked for', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(formatAgo('2026-03-01T11:55:00Z', 'en', now)).toBe('5 minutes ago');
    expect(formatAgo('2026-03-01T11:55:00Z', 'zh-CN', now)).toBe('5分钟前');
    expect(formatAgo('2026-03-01T09:00:00Z', 'en', now)).toBe('3 hours ago');
    expect(formatAgo('2026-02-25T12:00:00Z', 'en', now)).toBe('4 days ago');
    expect(formatAgo('2026-03-01T11:59:50Z', 'en', now)).toBe('now');
    expect(formatAgo(null, 'en', now)).toBe(UNKNOWN);
  });

  it('shows metres under a kilometre, else kilometres', () => {
    expect(formatDistance(850, 'en')).toBe('850 m');
    expect(formatDistance(12_345, 'en')).toBe('12.3 km');
    expect(formatDistance(250_000, 'en')).toBe('250 km');
  });
});
