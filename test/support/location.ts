/** Machines, reports and the ingest transaction for the location and alert tests. */

import type { Database, Sql } from '../../db/client.ts';
import {
  createLocationRules,
  type LocationOutcome,
  type LocationRules,
} from '../../ingest/rules/evaluate.ts';
import { rejectUnknownDevices, writeBatch } from '../../ingest/store.ts';
import type { Telemetry } from '../../shared/protocol.ts';

export const XUZHOU = { lat: 34.2618, lon: 117.1859 };
export const MIN = 60_000;
export const HOUR = 60 * MIN;
/** 2026-06-01 10:00 China time. */
export const T0 = Date.UTC(2026, 5, 1, 2, 0, 0);

export interface SeededMachine {
  deviceId: string;
  machineId: string;
  contractId: string | null;
}

/** A device on a machine, with an active contract at `stage` unless stage is null. */
export async function seedMachine(
  db: Sql,
  n: number,
  options: { stage?: number | null; addresses?: { kind: string; lat: number; lon: number }[] } = {},
): Promise<SeededMachine> {
  const deviceId = `LOC-${n}`;
  const machineId = `MCH-LOC-${n}`;
  await db.query(`insert into device (id, token_hash) values ($1, null)`, [deviceId]);
  await db.query(
    `insert into machine (id, make, model, type, serial) values ($1, 'Sany', 'SY215C', 'excavator', $2)`,
    [machineId, `PIN-${n}`],
  );
  await db.query(
    `insert into installation (device_id, machine_id, installed_at) values ($1, $2, '2020-01-01')`,
    [deviceId, machineId],
  );
  const stage = options.stage === undefined ? 0 : options.stage;
  if (stage === null) return { deviceId, machineId, contractId: null };
  const customerId = `CUS-LOC-${n}`;
  const contractId = `CON-LOC-${n}`;
  await db.query(`insert into customer (id, name) values ($1, 'Test customer')`, [customerId]);
  await db.query(
    `insert into contract (id, number, kind, customer_id, machine_id, principal, start_date, term_months, stage)
     values ($1, $1, 'loan', $2, $3, 100000000, '2025-01-01', 36, $4)`,
    [contractId, customerId, machineId, stage],
  );
  for (const a of options.addresses ?? []) {
    await db.query(
      `insert into customer_address (customer_id, kind, address, lat, lon) values ($1, $2, 'somewhere', $3, $4)`,
      [customerId, a.kind, a.lat, a.lon],
    );
  }
  return { deviceId, machineId, contractId };
}

/** A report at `ts` (defaults: parked in Xuzhou, ignition off, mains power, relay released). */
export function report(ts: number, over: Partial<Telemetry> = {}): Telemetry {
  return {
    v: 1,
    ts,
    lat: XUZHOU.lat,
    lon: XUZHOU.lon,
    fix: true,
    spd: 0,
    ign: false,
    hrs: 100,
    pwr: 25,
    rly: false,
    ...over,
  };
}

/** Metres north of XUZHOU as a latitude. */
export const north = (m: number) => XUZHOU.lat + m / 111_320;

/**
 * Writes reports as ingest does: one transaction holding the registry check, the telemetry and the
 * location rules (the same calls as ingest/worker.ts).
 */
export async function ingestReports(
  db: Database,
  rules: LocationRules,
  deviceId: string,
  reports: Telemetry[],
): Promise<LocationOutcome> {
  const telemetry = reports.map((report) => ({ deviceId, receivedAt: report.ts, report }));
  return db.transaction(async (tx) => {
    const batch = await rejectUnknownDevices(tx, { telemetry, rejects: [], statuses: [], messages: [] });
    await writeBatch(tx, batch);
    return rules.evaluate(tx, batch.telemetry);
  });
}

export { createLocationRules };

export async function alertsOf(db: Sql, deviceId: string) {
  const { rows } = await db.query<{
    kind: string;
    status: string;
    occurrences: number;
    raised_at: Date;
    cleared_at: Date | null;
  }>('select kind, status, occurrences, raised_at, cleared_at from alert where device_id = $1 order by id', [
    deviceId,
  ]);
  return rows;
}
