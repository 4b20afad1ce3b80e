/**
 * Turns one MQTT message into what the store writes: telemetry rows, a status change, or dead
 * letters with a reason. Pure, so every rejection rule is unit-tested without a broker.
 */
import { DeviceStatusSchema, parseTelemetryMessage, parseTopic } from '../shared/protocol.ts';
import { evidenceText, type IngestBatch } from './store.ts';

export interface ClassifyOptions {
  maxPayloadBytes: number;
  maxClockSkewMs: number;
  /** Bytes of a rejected payload kept as evidence. */
  keepBytes?: number;
}

export function classify(
  topic: string,
  payload: Uint8Array,
  receivedAt: number,
  options: ClassifyOptions,
): IngestBatch {
  const messages: NonNullable<IngestBatch['messages']> = [];
  const out: IngestBatch = { telemetry: [], rejects: [], statuses: [], messages };
  const keep = options.keepBytes ?? 1024;
  // Copied, not a view: a view would pin the whole socket chunk the payload was parsed from.
  const accepted = (deviceId: string) =>
    messages.push({ topic, deviceId, evidence: new Uint8Array(payload.subarray(0, keep)), receivedAt });
  const reject = (deviceId: string | null, reason: string, detail: string) =>
    out.rejects.push({
      topic,
      deviceId,
      reason,
      detail,
      receivedAt,
      payload: evidenceText(payload.subarray(0, keep)),
    });

  const where = parseTopic(topic);
  if (!where) {
    reject(null, 'bad_topic', `not a device topic: ${topic.slice(0, 200)}`);
    return out;
  }
  if (where.kind === 'status') {
    // An empty payload is how a retained status is deleted (a device retired, a test cleaning up):
    // nothing a device said, so neither a status nor a reject.
    if (payload.length === 0) return out;
    const status = DeviceStatusSchema.safeParse(new TextDecoder().decode(payload).trim());
    if (status.success) {
      out.statuses.push({ deviceId: where.deviceId, online: status.data === 'online', receivedAt });
      accepted(where.deviceId);
    } else reject(where.deviceId, 'schema', 'status must be "online" or "offline"');
    return out;
  }
  if (where.kind !== 'telemetry') {
    reject(where.deviceId, 'bad_topic', `ingest does not consume ${where.kind}`);
    return out;
  }
  const parsed = parseTelemetryMessage(payload, options.maxPayloadBytes);
  for (const r of parsed.rejected) {
    reject(where.deviceId, r.reason, r.index === null ? r.detail : `report ${r.index}: ${r.detail}`);
  }
  const latestAllowed = receivedAt + options.maxClockSkewMs;
  parsed.reports.forEach((report, index) => {
    if (report.ts > latestAllowed) {
      reject(
        where.deviceId,
        'future_time',
        `report ${index}: device time ${new Date(report.ts).toISOString()} is more than ${options.maxClockSkewMs} ms ahead`,
      );
    } else {
      out.telemetry.push({ deviceId: where.deviceId, receivedAt, report });
    }
  });
  if (out.telemetry.length > 0) accepted(where.deviceId);
  return out;
}
