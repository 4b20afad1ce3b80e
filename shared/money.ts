/**
 * Money as integer fen (1 yuan = 100 fen) held in plain numbers. Every value is checked to be a safe
 * integer so a float or an overflow fails loudly instead of drifting a fen at a time; products and
 * quotients go through BigInt and are rounded exactly once, by a rule stated at the call site.
 */

/** An amount in fen (minor units). Always a safe integer; non-negative unless stated otherwise. */
export type Fen = number;

export function assertFen(value: number, what: string): Fen {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative whole number of fen, got ${value}`);
  }
  return value;
}

export function sumFen(values: Iterable<Fen>): Fen {
  let total = 0;
  for (const v of values) total += v;
  if (!Number.isSafeInteger(total)) throw new RangeError(`money total ${total} is beyond safe integer range`);
  return total;
}

/**
 * a × numerator / denominator, rounded half up (towards +∞ at exactly half a fen), for non-negative
 * whole inputs. BigInt keeps the intermediate product exact however large it gets.
 */
export function mulDivRoundHalfUp(a: number, numerator: number | bigint, denominator: number | bigint): Fen {
  const n = BigInt(numerator);
  const d = BigInt(denominator);
  if (!Number.isSafeInteger(a) || a < 0 || n < 0n || d <= 0n) {
    throw new RangeError(`mulDivRoundHalfUp needs whole a ≥ 0, numerator ≥ 0, denominator > 0`);
  }
  const result = (2n * BigInt(a) * n + d) / (2n * d);
  return toSafeFen(result);
}

export function toSafeFen(value: bigint): Fen {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`money value ${value} is beyond safe integer range`);
  }
  return Number(value);
}

/** '¥1,234.50'-style display; the sign goes before the currency mark. */
export function formatYuan(fen: Fen): string {
  if (!Number.isSafeInteger(fen)) throw new RangeError(`formatYuan needs whole fen, got ${fen}`);
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const yuan = Math.trunc(abs / 100)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}¥${yuan}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * Parses '1,234.5', '¥1234.50' or '1234' into fen by string surgery, so '0.1' is exactly 10 fen and
 * never 9.999… Rejects more than two decimals rather than silently rounding.
 */
export function parseYuan(text: string): Fen {
  const m = /^(-?)¥?((?:\d{1,3}(?:,\d{3})+)|\d+)(?:\.(\d{1,2}))?$/.exec(text.trim());
  if (!m) throw new RangeError(`not a yuan amount: '${text}'`);
  const whole = BigInt(m[2]!.replaceAll(',', ''));
  const fraction = BigInt((m[3] ?? '').padEnd(2, '0'));
  const fen = toSafeFen(whole * 100n + fraction);
  return m[1] === '-' && fen !== 0 ? -fen : fen;
}
