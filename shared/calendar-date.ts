/**
 * Calendar dates ('YYYY-MM-DD') and the arithmetic the overdue engine needs, on whole day numbers
 * (days since 1970-01-01). A due date is a day on the contract's own calendar, not an instant, so
 * nothing in here knows about time zones; `localDate` is the one door from an instant to a date.
 */

/** A calendar date 'YYYY-MM-DD' (proleptic Gregorian, years 0001-9999). */
export type IsoDate = string;

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

export function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

// Howard Hinnant's days_from_civil: exact integer arithmetic, no Date object, no zone.
function dayFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDay(dayNumber: number): { year: number; month: number; day: number } {
  const z = dayNumber + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

function parts(date: IsoDate): { year: number; month: number; day: number } {
  const m = ISO_DATE.exec(date);
  const year = Number(m?.[1]);
  const month = Number(m?.[2]);
  const day = Number(m?.[3]);
  if (!m || year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) {
    throw new RangeError(`not a calendar date 'YYYY-MM-DD': '${date}'`);
  }
  return { year, month, day };
}

export function isIsoDate(value: string): boolean {
  try {
    parts(value);
    return true;
  } catch {
    return false;
  }
}

/** Days since 1970-01-01 (negative before). Throws on anything that is not a real calendar date. */
export function toDayNumber(date: IsoDate): number {
  const { year, month, day } = parts(date);
  return dayFromCivil(year, month, day);
}

export function fromDayNumber(dayNumber: number): IsoDate {
  if (!Number.isSafeInteger(dayNumber)) throw new RangeError(`day number must be whole, got ${dayNumber}`);
  const { year, month, day } = civilFromDay(dayNumber);
  if (year < 1 || year > 9999) throw new RangeError(`day number ${dayNumber} is outside years 0001-9999`);
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

export function addDays(date: IsoDate, days: number): IsoDate {
  return fromDayNumber(toDayNumber(date) + days);
}

/** Whole days from `from` to `to`: positive when `to` is later. */
export function daysBetween(from: IsoDate, to: IsoDate): number {
  return toDayNumber(to) - toDayNumber(from);
}

/**
 * The same day-of-month `months` later (or earlier), clamped to the month's last day: Jan 31 + 1 is
 * Feb 28 (Feb 29 in a leap year), Jan 31 + 2 is Mar 31. Always count from the original anchor date,
 * never chain, or a schedule would drift from the 31st to the 28th for good after February.
 */
export function addMonthsClamped(date: IsoDate, months: number): IsoDate {
  if (!Number.isSafeInteger(months)) throw new RangeError(`months must be whole, got ${months}`);
  const { year, month, day } = parts(date);
  const index = year * 12 + (month - 1) + months;
  const y = Math.floor(index / 12);
  const m = index - y * 12 + 1;
  return fromDayNumber(dayFromCivil(y, m, Math.min(day, daysInMonth(y, m))));
}

/** One formatter per time zone: making one costs far more than using it (the daily refresh asks often). */
const dateFormats = new Map<string, Intl.DateTimeFormat>();

function dateFormat(timeZone: string): Intl.DateTimeFormat {
  let format = dateFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      calendar: 'gregory',
      numberingSystem: 'latn',
      era: 'short',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    dateFormats.set(timeZone, format);
  }
  return format;
}

/**
 * The calendar date at an instant in an IANA time zone (e.g. 'Asia/Shanghai'): how a payment's or the
 * clock's instant becomes the contract-local date the engine works with. Pure: same input, same date.
 */
export function localDate(instantMs: number, timeZone: string): IsoDate {
  if (!Number.isFinite(instantMs)) throw new RangeError(`instant must be finite epoch milliseconds`);
  const format = dateFormat(timeZone);
  const got: Record<string, string> = {};
  for (const p of format.formatToParts(instantMs)) got[p.type] = p.value;
  const year = Number(got.year);
  if (got.era !== 'AD' || !(year >= 1 && year <= 9999)) {
    throw new RangeError(`instant ${instantMs} is outside years 0001-9999`);
  }
  return `${String(year).padStart(4, '0')}-${got.month}-${got.day}`;
}
