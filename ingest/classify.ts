/**
 * Turns one MQTT message into what the store writes: telemetry rows, a status change, or a dead
 * letter with its problems. Pure, so every rejection rule is unit-tested without a broker.
 */
import { DeviceStatusSchema, parseTelemetryMessage, parseTopic } from '../shared/protocol.ts';
import { deadLetter, EVIDENCE_BYTES, type Problem } from './dead-letter.ts';
import type { IngestBatch } from './store.ts';

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
  const keep = options.keepBytes ?? EVIDENCE_BYTES;
  // Copied, not a view: a view would pin the whole socket chunk the payload was parsed from.
  const message = (deviceId: string | null) => ({
    topic,
    deviceId,
    evidence: new Uint8Array(payload.subarray(0, keep)),
    payloadBytes: payload.byteLength,
    receivedAt,
  });
  const accepted = (deviceId: string) => messages.push({ ...message(deviceId), deviceId });
  // However many of its reports are bad, a message is one dead letter.
  const problems: Problem[] = [];
  const rejectAll = (deviceId: string | null) => {
    if (problems.length > 0) out.rejects.push(deadLetter(message(deviceId), problems));
    return out;
  };

  const where = parseTopic(topic);
  if (!where) {
    problems.push({ reason: 'bad_topic', detail: `not a device topic: ${topic.slice(0, 200)}` });
    return rejectAll(null);
  }
  if (where.kind === 'status') {
    // An empty payload is how a retained status is deleted (a device retired, a test cleaning up):
    // nothing a device said, so neither a status nor a reject.
    if (payload.length === 0) return out;
    const status = DeviceStatusSchema.safeParse(new TextDecoder().decode(payload).trim());
    if (status.success) {
      out.statuses.push({ deviceId: where.deviceId, online: status.data === 'online', receivedAt });
      accepted(where.deviceId);
    } else problems.push({ reason: 'schema', detail: 'status must be "online" or "offline"' });
    return rejectAll(where.deviceId);
  }
  if (where.kind !== 'telemetry') {
    problems.push({ reason: 'bad_topic', detail: `ingest does not consume ${where.kind}` });
    return rejectAll(where.deviceId);
  }
  const parsed = parseTelemetryMessage(payload, options.maxPayloadBytes);
  for (const r of parsed.rejected) {
    problems.push({
      reason: r.reason,
      detail: r.index === null ? r.detail : `report ${r.index}: ${r.detail}`,
    });
  }
  const latestAllowed = receivedAt + options.maxClockSkewMs;
  parsed.reports.forEach((report, index) => {
    if (report.ts > latestAllowed) {
      problems.push({
        reason: 'future_time',
        detail: `report ${index}: device time ${new Date(report.ts).toISOString()} is more than ${options.maxClockSkewMs} ms ahead`,
      });
    } else {
      out.telemetry.push({ deviceId: where.deviceId, receivedAt, report });
    }
  });
  if (out.telemetry.length > 0) accepted(where.deviceId);
  return rejectAll(where.deviceId);
}
