/**
 * Writes one ingest batch in one transaction: telemetry rows (duplicates absorbed by the unique
 * key), latest_position moved forward only, device status, dead letters. Returns the positions that
 * actually advanced, for the live map, and the dead letters written. Ingest first passes each batch
 * through rejectUnknownDevices in the same transaction.
 */
import type { Sql } from '../db/client.ts';
import { unknownDeviceIds } from '../db/devices.ts';
import { advanceLatestPositions, type TelemetryRow } from '../db/positions.ts';
import type { PositionUpdate } from '../shared/live.ts';
import type { Telemetry } from '../shared/protocol.ts';
import { deadLetter, type RejectRow } from './dead-letter.ts';

export type { TelemetryRow } from '../db/positions.ts';
export type { RejectRow } from './dead-letter.ts';

export interface StatusRow {
  deviceId: string;
  online: boolean;
  receivedAt: number;
}

/**
 * One accepted message (telemetry or status), kept so that the whole message can become a single
 * dead letter if its device turns out not to be in the registry.
 */
export interface MessageRow {
  topic: string;
  deviceId: string;
  /** A copy of the payload's first bytes, decoded only if the message becomes a dead letter. */
  evidence: Uint8Array;
  payloadBytes: number;
  receivedAt: number;
}

export interface IngestBatch {
  telemetry: TelemetryRow[];
  rejects: RejectRow[];
  statuses: StatusRow[];
  /** The accepted messages the telemetry and statuses came from (rejectUnknownDevices checks these). */
  messages?: MessageRow[];
}

export interface WrittenBatch {
  /** Latest positions that moved forward, for the live map. */
  advanced: PositionUpdate[];
  /** Every dead letter written, the batch's own and those of unknown devices. */
  rejects: RejectRow[];
  /** Telemetry rows offered to the table (duplicates absorbed by the unique key included). */
  rows: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const col = <K extends keyof Telemetry>(rows: TelemetryRow[], k: K) => rows.map((r) => r.report[k] ?? null);

export async function writeBatch(tx: Sql, batch: IngestBatch): Promise<WrittenBatch> {
  const rows = batch.telemetry;
  if (rows.length > 0) {
    await tx.query(
      `insert into telemetry (device_id, ts, seq, received_at, lat, lon, alt, spd, hdg, sat, fix, ign, hrs,
                              pwr, bat, rssi, rly, alm)
       select d, t, s, r, la, lo, al, sp, hd, sa, fx, ig, hr, pw, ba, rs, rl, string_to_array(am, ',')
       from unnest($1::text[], $2::timestamptz[], $3::int[], $4::timestamptz[], $5::float8[], $6::float8[],
                   $7::real[], $8::real[], $9::real[], $10::smallint[], $11::bool[], $12::bool[], $13::float8[],
                   $14::real[], $15::real[], $16::smallint[], $17::bool[], $18::text[])
            as u(d, t, s, r, la, lo, al, sp, hd, sa, fx, ig, hr, pw, ba, rs, rl, am)
       on conflict do nothing`,
      [
        rows.map((r) => r.deviceId),
        rows.map((r) => iso(r.report.ts)),
        col(rows, 'seq'),
        rows.map((r) => iso(r.receivedAt)),
        col(rows, 'lat'),
        col(rows, 'lon'),
        col(rows, 'alt'),
        col(rows, 'spd'),
        col(rows, 'hdg'),
        col(rows, 'sat'),
        col(rows, 'fix'),
        col(rows, 'ign'),
        col(rows, 'hrs'),
        col(rows, 'pwr'),
        col(rows, 'bat'),
        rows.map((r) => (r.report.rssi === undefined ? null : Math.round(r.report.rssi))),
        col(rows, 'rly'),
        // Alarm names are [A-Za-z0-9_] (protocol schema), so a comma list round-trips safely and
        // avoids unnest flattening a two-dimensional array.
        rows.map((r) => (r.report.alm && r.report.alm.length > 0 ? r.report.alm.join(',') : null)),
      ],
    );
  }

  const advanced = await advanceLatestPositions(tx, rows);

  if (batch.statuses.length > 0) {
    const latest = new Map(batch.statuses.map((s) => [s.deviceId, s]));
    const statuses = [...latest.values()];
    await tx.query(
      `insert into device_status (device_id, online, changed_at)
       select * from unnest($1::text[], $2::bool[], $3::timestamptz[])
       on conflict (device_id) do update set online = excluded.online, changed_at = excluded.changed_at
       where device_status.online is distinct from excluded.online`,
      [
        statuses.map((s) => s.deviceId),
        statuses.map((s) => s.online),
        statuses.map((s) => iso(s.receivedAt)),
      ],
    );
  }

  if (batch.rejects.length > 0) {
    const r = batch.rejects;
    await tx.query(
      `insert into ingest_rejects (received_at, topic, device_id, reason, detail, reasons, examples, payload,
                                   payload_bytes)
       select t, tp, d, r, e::jsonb ->> 0, rs::jsonb, e::jsonb, p, b
       from unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                   $8::int[]) as u(t, tp, d, r, rs, e, p, b)`,
      [
        r.map((x) => iso(x.receivedAt)),
        r.map((x) => x.topic),
        r.map((x) => x.deviceId),
        r.map((x) => x.reason),
        r.map((x) => JSON.stringify(x.reasons)),
        r.map((x) => JSON.stringify(x.examples)),
        r.map((x) => x.payload),
        r.map((x) => x.payloadBytes),
      ],
    );
  }
  return { advanced, rejects: batch.rejects, rows: rows.length };
}

/**
 * Moves the messages of devices missing from the registry (a service account publishing on a
 * device topic, a device deleted while its messages were queued) to the dead letters. One indexed
 * query over the batch's distinct device ids (db/devices.ts).
 */
export async function rejectUnknownDevices(tx: Sql, batch: IngestBatch): Promise<IngestBatch> {
  if (!batch.messages || batch.messages.length === 0) return batch;
  const ids = [...new Set(batch.messages.map((m) => m.deviceId))];
  const missing = await unknownDeviceIds(tx, ids);
  if (missing.length === 0) return batch;
  const unknown = new Set(missing);
  return {
    telemetry: batch.telemetry.filter((t) => !unknown.has(t.deviceId)),
    statuses: batch.statuses.filter((s) => !unknown.has(s.deviceId)),
    messages: batch.messages.filter((m) => !unknown.has(m.deviceId)),
    rejects: [
      ...batch.rejects,
      ...batch.messages
        .filter((m) => unknown.has(m.deviceId))
        .map((m) =>
          deadLetter(m, [
            { reason: 'unknown_device', detail: `device ${m.deviceId} is not in the registry` },
          ]),
        ),
    ],
  };
}
