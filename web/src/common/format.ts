/**
 * Locale-aware display formatting: numbers, money (CNY; the API speaks integer fen), dates and
 * ages. Pure functions of a BCP 47 locale so they are tested without a browser; components use
 * the bound versions from useFormat(). `—` stands for "the device did not say".
 */

export const UNKNOWN = '—';

const cache = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>();
function cached<T extends Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>(
  key: string,
  make: () => T,
): T {
  let f = cache.get(key) as T | undefined;
  if (f === undefined) {
    f = make();
    cache.set(key, f);
  }
  return f;
}

/** Integer fen as yuan, e.g. 12345600 → "¥123,456.00" (en) / "¥123,456.00" (zh-CN). */
export function formatMoney(fen: number | null, locale: string, currency = 'CNY'): string {
  if (fen === null || !Number.isFinite(fen)) return UNKNOWN;
  const f = cached(
    `money:${locale}:${currency}`,
    () => new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: 2 }),
  );
  // Fen are exact integers: divide once, for display only.
  return f.format(fen / 100);
}

export function formatNumber(n: number | null, locale: string, maximumFractionDigits = 0): string {
  if (n === null || !Number.isFinite(n)) return UNKNOWN;
  return cached(
    `num:${locale}:${maximumFractionDigits}`,
    () => new Intl.NumberFormat(locale, { maximumFractionDigits }),
  ).format(n);
}

export function formatDateTime(iso: string | null, locale: string, timeZone?: string): string {
  const t = iso === null ? Number.NaN : Date.parse(iso);
  if (Number.isNaN(t)) return UNKNOWN;
  return cached(
    `dt:${locale}:${timeZone ?? ''}`,
    () =>
      new Intl.DateTimeFormat(locale, {
        dateStyle: 'medium',
        timeStyle: 'short',
        ...(timeZone ? { timeZone } : {}),
      }),
  ).format(t);
}

/** A calendar date (YYYY-MM-DD, contract-local) shown without shifting it through a time zone. */
export function formatDate(isoDate: string | null, locale: string): string {
  if (isoDate === null || !/^\d{4}-\d{2}-\d{2}/.test(isoDate)) return UNKNOWN;
  const t = Date.parse(`${isoDate.slice(0, 10)}T00:00:00Z`);
  return cached(
    `d:${locale}`,
    () => new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeZone: 'UTC' }),
  ).format(t);
}

/** How long ago, in the largest whole unit: "5 minutes ago", "5分钟前". */
export function formatAgo(iso: string | null, locale: string, now: number = Date.now()): string {
  const t = iso === null ? Number.NaN : Date.parse(iso);
  if (Number.isNaN(t)) return UNKNOWN;
  const rtf = cached(`rel:${locale}`, () => new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }));
  const s = Math.round((t - now) / 1000);
  if (s > 0) return rtf.format(0, 'second');
  const abs = -s;
  if (abs < 60) return rtf.format(0, 'second');
  if (abs < 3600) return rtf.format(-Math.floor(abs / 60), 'minute');
  if (abs < 48 * 3600) return rtf.format(-Math.floor(abs / 3600), 'hour');
  return rtf.format(-Math.floor(abs / 86_400), 'day');
}

/** A distance in metres: "850 m" under a kilometre, else "12.3 km". */
export function formatDistance(m: number, locale: string): string {
  if (m < 1000) return `${formatNumber(m, locale)} m`;
  return `${formatNumber(m / 1000, locale, m < 100_000 ? 1 : 0)} km`;
}
