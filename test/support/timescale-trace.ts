/**
 * A hand-computed day of one excavator for telemetry_daily, and what the day must sum to. Its
 * fixes move along the meridian 121° E only, so every counted leg is exactly 0.01° of latitude:
 * 6371.0088 km × π/180 × 0.01 = 1.1119508 km.
 */
import type { IngestBatch, TelemetryRow } from '../../ingest/store.ts';
import type { Telemetry } from '../../shared/protocol.ts';

export const LEG_KM = (6371.0088 * Math.PI) / 180 / 100;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SHANGHAI = 8 * HOUR; // UTC+8 all year: China has no daylight saving time

/** 00:00 Asia/Shanghai, `daysAgo` local days before today's. */
export function shanghaiMidnight(daysAgo: number, now = Date.now()): number {
  return Math.floor((now + SHANGHAI) / DAY) * DAY - SHANGHAI - daysAgo * DAY;
}

export interface Trace {
  day: number;
  /** Everything the boxes sent on time, on the day before, the day and the day after. */
  onTime: IngestBatch;
  /** Arrives after the day was compressed: one new report, and two the day already holds. */
  backlog: IngestBatch;
}

export function excavatorDay(day: number): Trace {
  const at = (hour: number, minute = 0) => day + hour * HOUR + minute * 60_000;
  const row = (deviceId: string, report: Omit<Telemetry, 'v'>): TelemetryRow => ({
    deviceId,
    receivedAt: report.ts,
    report: { v: 1, ...report },
  });
  const ex = (report: Omit<Telemetry, 'v' | 'lon'> & { lon?: number }) =>
    row('EX-1', { lon: 121, ign: true, ...report });
  const noSeq = ex({ ts: at(10), lat: 0, lon: 0, fix: false, hrs: 1003 }); // no fix, no seq
  const leg1 = ex({ seq: 3, ts: at(8), lat: 31.01, hrs: 1001 });
  const onTime = [
    // 22:00 the evening before: the same UTC day as this morning (UTC+8), another local day.
    ex({ seq: 1, ts: at(-2), lat: 30.99, hrs: 990, ign: false }),
    ex({ seq: 1, ts: at(7), lat: 31, hrs: 1000 }),
    ex({ seq: 2, ts: at(7, 30), lat: 31, lon: 121.0002, hrs: 1000.5 }), // 19 m of wander: no leg
    leg1, // leg 1: 0.01° north of 07:00
    ex({ seq: 4, ts: at(9), lat: 35, hrs: 1002, fix: false }), // a position without a fix
    noSeq,
    ex({ seq: 6, ts: at(11), lat: 31.02, hrs: 1004 }), // leg 2
    ex({ seq: 7, ts: at(12), lat: 31.03, hrs: 1005 }), // leg 3
    ex({ seq: 8, ts: at(12, 30), lat: 31.0301, lon: 121.0001, hrs: 1005.5 }), // 15 m of wander
    ex({ seq: 9, ts: at(18), lat: 31.03, hrs: 1008.5, ign: false }),
    // 01:00 the next local day, still the same UTC day as most of this one.
    ex({ seq: 11, ts: at(25), lat: 31.1, hrs: 1008.5, ign: false }),
    // A second machine, one fix and no engine-hour meter.
    row('LD-2', { seq: 1, ts: at(9), lat: 23.1, lon: 113.3 }),
  ];
  const backlog = [ex({ seq: 10, ts: at(19), lat: 31.04, hrs: 1009 }), leg1, noSeq];
  return {
    day,
    onTime: { telemetry: onTime, rejects: [], statuses: [] },
    backlog: { telemetry: backlog, rejects: [], statuses: [] },
  };
}

export interface DailyRow {
  device_id: string;
  day: Date;
  reports: number;
  engine_hours: number | null;
  distance_km: number;
}

/** What telemetry_daily must say for the local day before, the day and the day after. */
export function expectedDaily(day: number, withBacklog: boolean) {
  return [
    { device_id: 'EX-1', day: day - DAY, reports: 1, engine_hours: 0, distance_km: 0 },
    withBacklog
      ? { device_id: 'EX-1', day, reports: 10, engine_hours: 9, distance_km: 4 * LEG_KM }
      : { device_id: 'EX-1', day, reports: 9, engine_hours: 8.5, distance_km: 3 * LEG_KM },
    { device_id: 'EX-1', day: day + DAY, reports: 1, engine_hours: 0, distance_km: 0 },
    { device_id: 'LD-2', day, reports: 1, engine_hours: null, distance_km: 0 },
  ];
}
