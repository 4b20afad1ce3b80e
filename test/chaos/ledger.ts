/**
 * What the database holds against what the broker acknowledged, report by report. Pure: the
 * acknowledged sequence numbers come from the fleet (one bitmap per device), the stored ones from
 * a query grouping the fleet's telemetry by (device, seq).
 *
 * - published: reports the broker acknowledged (PUBACK);
 * - stored: distinct (device, seq) in the database, acknowledged or not (a report whose PUBACK was
 *   lost in a broker restart may well be stored);
 * - lost: acknowledged and not in the database;
 * - duplicates: rows beyond the first of each (device, seq): a report stored twice counts once.
 */

export interface StoredGroup {
  deviceId: string;
  seq: number;
  copies: number;
}

export interface LostReport {
  deviceId: string;
  seq: number;
  /** When it was due, seconds from the first report (report k of N devices is due at k / rate). */
  dueAtSeconds: number;
}

export interface Tally {
  published: number;
  stored: number;
  lost: number;
  duplicates: number;
  /** The first lost reports, in due order: where a loss happened, for the report. */
  lostSample: LostReport[];
  /** Lost reports per second of the run (by due time), for the seconds that lost any. */
  lostBySecond: Record<string, number>;
}

export const bitmapHas = (bitmap: Uint8Array, seq: number) =>
  seq >> 3 < bitmap.length && (bitmap[seq >> 3]! & (1 << (seq & 7))) !== 0;

export function countBits(bitmap: Uint8Array): number {
  let n = 0;
  for (const byte of bitmap) {
    let b = byte;
    while (b) {
      b &= b - 1;
      n++;
    }
  }
  return n;
}

/**
 * `deviceIds[i]`'s acknowledged sequence numbers are `acked[i]`; report (device i, seq s) was due
 * at (s · N + i) / rate seconds into the run.
 */
export function tally(
  deviceIds: string[],
  acked: Uint8Array[],
  stored: Iterable<StoredGroup>,
  rate: number,
  sampleSize = 20,
): Tally {
  const index = new Map(deviceIds.map((id, i) => [id, i]));
  const storedBits = deviceIds.map((_, i) => new Uint8Array(acked[i]!.length));
  let distinct = 0;
  let duplicates = 0;
  for (const g of stored) {
    distinct++;
    duplicates += g.copies - 1;
    const i = index.get(g.deviceId);
    if (i === undefined || g.seq < 0 || g.seq >> 3 >= storedBits[i]!.length) continue;
    storedBits[i]![g.seq >> 3]! |= 1 << (g.seq & 7);
  }
  const n = deviceIds.length;
  const lostAll: LostReport[] = [];
  let published = 0;
  for (let i = 0; i < n; i++) {
    const bits = acked[i]!;
    published += countBits(bits);
    for (let byte = 0; byte < bits.length; byte++) {
      const missing = bits[byte]! & ~storedBits[i]![byte]!;
      if (missing === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if (!(missing & (1 << bit))) continue;
        const seq = byte * 8 + bit;
        lostAll.push({ deviceId: deviceIds[i]!, seq, dueAtSeconds: (seq * n + i) / rate });
      }
    }
  }
  lostAll.sort((a, b) => a.dueAtSeconds - b.dueAtSeconds);
  const lostBySecond: Record<string, number> = {};
  for (const l of lostAll) {
    const s = String(Math.floor(l.dueAtSeconds));
    lostBySecond[s] = (lostBySecond[s] ?? 0) + 1;
  }
  return {
    published,
    stored: distinct,
    lost: lostAll.length,
    duplicates,
    lostSample: lostAll.slice(0, sampleSize),
    lostBySecond,
  };
}
