/** Alert rows as the api lists them and the live feed pushes them. */

import { ALERT_LABELS, type AlertKind, type AlertView } from '../shared/alerts.ts';
import type { Sql } from './client.ts';

export const ALERT_COLUMNS = `a.id::text, a.kind, a.device_id, a.machine_id, a.contract_id, a.status, a.raised_at,
  a.last_seen_at, a.cleared_at, a.occurrences, a.lat, a.lon, a.detail, a.acknowledged_at, a.acknowledged_by,
  a.acknowledged_note`;

export interface AlertRow {
  id: string;
  kind: AlertKind;
  device_id: string;
  machine_id: string | null;
  contract_id: string | null;
  status: 'open' | 'cleared';
  raised_at: Date;
  last_seen_at: Date;
  cleared_at: Date | null;
  occurrences: number;
  lat: number | null;
  lon: number | null;
  detail: Record<string, unknown> | string;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  acknowledged_note: string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function alertView(r: AlertRow): AlertView {
  return {
    id: r.id,
    kind: r.kind,
    label: ALERT_LABELS[r.kind],
    deviceId: r.device_id,
    machineId: r.machine_id,
    contractId: r.contract_id,
    status: r.status,
    raisedAt: iso(r.raised_at)!,
    lastSeenAt: iso(r.last_seen_at)!,
    clearedAt: iso(r.cleared_at),
    occurrences: r.occurrences,
    lat: r.lat,
    lon: r.lon,
    detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, unknown>) : r.detail,
    acknowledgedAt: iso(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
    acknowledgedNote: r.acknowledged_note,
  };
}

export async function alertsById(tx: Sql, ids: readonly string[]): Promise<AlertView[]> {
  if (ids.length === 0) return [];
  const { rows } = await tx.query<AlertRow>(
    `select ${ALERT_COLUMNS} from alert a where a.id = any($1::bigint[]) order by a.raised_at, a.id`,
    [ids],
  );
  return rows.map(alertView);
}
