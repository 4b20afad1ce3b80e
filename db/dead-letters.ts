/**
 * ingest_rejects, ingest's dead letters, beyond writing them (ingest/store.ts): the page the api
 * lists for admins, and the retention delete ingest runs.
 */
import type { DeadLetter } from '../shared/api/ingest.ts';
import type { Sql } from './client.ts';

export interface DeadLetterFilter {
  deviceId?: string | undefined;
  /** Dead letters with at least one problem of this reason. */
  reason?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /** Only ids below this one (the previous page's last). */
  before?: string | undefined;
  limit: number;
}

interface DeadLetterRow {
  id: string;
  received_at: Date;
  topic: string;
  device_id: string | null;
  reason: string;
  reasons: Record<string, number> | string;
  examples: string[] | string;
  payload: string | null;
  payload_bytes: number;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

/** Newest first, one page. */
export async function listDeadLetters(sql: Sql, f: DeadLetterFilter): Promise<DeadLetter[]> {
  const { rows } = await sql.query<DeadLetterRow>(
    `select id::text, received_at, topic, device_id, reason, reasons, examples, payload, payload_bytes
     from ingest_rejects
     where ($1::text is null or device_id = $1)
       and ($2::text is null or reasons ? $2)
       and ($3::timestamptz is null or received_at >= $3)
       and ($4::timestamptz is null or received_at < $4)
       and ($5::bigint is null or id < $5)
     order by id desc
     limit $6`,
    [f.deviceId ?? null, f.reason ?? null, f.since ?? null, f.until ?? null, f.before ?? null, f.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    receivedAt: new Date(r.received_at).toISOString(),
    topic: r.topic,
    deviceId: r.device_id,
    reason: r.reason,
    reasons: json(r.reasons),
    examples: json(r.examples),
    payload: r.payload ?? '',
    payloadBytes: r.payload_bytes,
  }));
}

/** Deletes dead letters received before the cutoff; returns how many. */
export async function deleteDeadLettersBefore(sql: Sql, cutoff: Date): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `with gone as (delete from ingest_rejects where received_at < $1 returning 1)
     select count(*)::int as n from gone`,
    [cutoff],
  );
  return rows[0]?.n ?? 0;
}
