/** Alerts for the api: listing (globally, per contract, per device) and acknowledging. */
import { z } from 'zod';
import { ALERT_COLUMNS, type AlertRow, alertView } from '../../db/alerts.ts';
import type { Sql } from '../../db/client.ts';
import { ALERT_KINDS, type AlertView } from '../../shared/alerts.ts';
import { alertInScope, type Viewer } from '../auth/scope.ts';

export const AcknowledgeSchema = z
  .object({ note: z.string().trim().max(500).optional().describe('what is being done about it') })
  .default({});

export const AlertsQuerySchema = z.object({
  status: z.enum(['open', 'cleared', 'all']).default('open'),
  kind: z.enum(ALERT_KINDS).optional(),
  deviceId: z.string().max(64).optional(),
  contractId: z.string().max(64).optional(),
  acknowledged: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
});
export type AlertsQuery = z.infer<typeof AlertsQuerySchema>;

/** Newest first, in the viewer's scope. */
export async function listAlerts(db: Sql, q: AlertsQuery, viewer: Viewer): Promise<AlertView[]> {
  const params: unknown[] = [
    q.status,
    q.kind ?? null,
    q.deviceId ?? null,
    q.contractId ?? null,
    q.acknowledged === undefined ? null : q.acknowledged === 'true',
    q.limit,
  ];
  const inScope = alertInScope(viewer, params);
  const { rows } = await db.query<AlertRow>(
    `select ${ALERT_COLUMNS} from alert a
     where ($1::text = 'all' or a.status = $1) and ($2::text is null or a.kind = $2)
       and ($3::text is null or a.device_id = $3) and ($4::text is null or a.contract_id = $4)
       and ($5::bool is null or (a.acknowledged_at is not null) = $5)
       and ${inScope}
     order by a.raised_at desc, a.id desc limit $6`,
    params,
  );
  return rows.map(alertView);
}

export async function contractExists(db: Sql, id: string): Promise<boolean> {
  const { rows } = await db.query('select 1 from contract where id = $1', [id]);
  return rows.length > 0;
}

/** Records who acknowledged; acknowledging twice keeps the first. null when there is no such alert. */
export async function acknowledgeAlert(
  db: Sql,
  id: string,
  by: { username: string; note: string | undefined },
  at: number,
): Promise<AlertView | null> {
  if (!/^\d{1,18}$/.test(id)) return null;
  const { rows } = await db.query<AlertRow>(
    `update alert a set acknowledged_at = coalesce(a.acknowledged_at, $2::timestamptz),
                        acknowledged_by = coalesce(a.acknowledged_by, $3),
                        acknowledged_note = case when a.acknowledged_at is null then $4 else a.acknowledged_note end
     where a.id = $1::bigint returning ${ALERT_COLUMNS}`,
    [id, new Date(at).toISOString(), by.username, by.note ?? null],
  );
  return rows[0] ? alertView(rows[0]) : null;
}
