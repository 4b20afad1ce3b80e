/**
 * Device protocol v1: the one schema that devices, ingest, simulators and tests share.
 * The prose version, with examples, is docs/device-protocol.md; keep the two in step.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;

/** Device ids double as MQTT client ids, usernames and topic levels, so no wildcards or slashes. */
export const DeviceIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'device id: 1-64 of A-Z a-z 0-9 _ . -, starting alphanumeric');

/** A prefix of numbered device ids, `{prefix}-000001` (simulated fleets): always a valid device id. */
export const DEVICE_ID_PREFIX = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;

/** Alarms the platform knows by name; devices may send others, which are stored as they come. */
export const KNOWN_ALARMS = ['powerCut', 'antennaCut', 'tamper', 'lowBattery', 'overspeed', 'sos'] as const;
export type KnownAlarm = (typeof KNOWN_ALARMS)[number];

/** Device clocks before this are certainly unset (boxes boot at 1970 or the GPS epoch 1980). */
const EARLIEST_DEVICE_TIME = Date.UTC(2000, 0, 1);

export const TelemetrySchema = z.object({
  v: z.literal(PROTOCOL_VERSION),
  seq: z
    .number()
    .int()
    .min(0)
    .max(2 ** 31 - 1)
    .optional(),
  ts: z
    .number()
    .int()
    .min(EARLIEST_DEVICE_TIME, 'ts: device time must be epoch milliseconds after 2000-01-01'),
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
  alt: z.number().min(-1000).max(10000).optional(),
  spd: z.number().min(0).max(400).optional(),
  hdg: z.number().min(0).max(360).optional(),
  sat: z.number().int().min(0).max(99).optional(),
  fix: z.boolean().optional(),
  ign: z.boolean().optional(),
  hrs: z.number().min(0).max(1_000_000).optional(),
  pwr: z.number().min(0).max(100).optional(),
  bat: z.number().min(0).max(100).optional(),
  rssi: z.number().min(-150).max(0).optional(),
  rly: z.boolean().optional(),
  alm: z
    .array(z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/))
    .max(16)
    .optional(),
});
export type Telemetry = z.infer<typeof TelemetrySchema>;

/** A backlog upload after a coverage gap: at most this many reports in one message. */
export const MAX_BACKLOG = 1000;

export const DeviceStatusSchema = z.enum(['online', 'offline']);
export type DeviceStatus = z.infer<typeof DeviceStatusSchema>;

export type TopicKind = 'telemetry' | 'ack' | 'status' | 'commands';
const TOPIC_KINDS: readonly TopicKind[] = ['telemetry', 'ack', 'status', 'commands'];

export const topics = {
  telemetry: (deviceId: string) => `devices/${deviceId}/telemetry`,
  ack: (deviceId: string) => `devices/${deviceId}/ack`,
  status: (deviceId: string) => `devices/${deviceId}/status`,
  commands: (deviceId: string) => `devices/${deviceId}/commands`,
  /** What ingest subscribes to; `$share/<group>/` is prefixed when workers share the load. */
  allTelemetry: 'devices/+/telemetry',
  allStatus: 'devices/+/status',
  allAcks: 'devices/+/ack',
} as const;

export function parseTopic(topic: string): { deviceId: string; kind: TopicKind } | null {
  const parts = topic.split('/');
  if (parts.length !== 3 || parts[0] !== 'devices') return null;
  const [, deviceId, kind] = parts as [string, string, string];
  if (!DeviceIdSchema.safeParse(deviceId).success) return null;
  if (!(TOPIC_KINDS as readonly string[]).includes(kind)) return null;
  return { deviceId, kind: kind as TopicKind };
}

export interface RejectedReport {
  /** Position in a backlog array, or null when the whole message was unusable. */
  index: number | null;
  reason: RejectReason;
  detail: string;
}
export type RejectReason = 'malformed_json' | 'schema' | 'oversize' | 'empty' | 'too_many_reports';

export interface ParsedTelemetry {
  reports: Telemetry[];
  rejected: RejectedReport[];
}

function describe(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}

/**
 * Parses one telemetry message: a JSON object or an array of them.
 * Returns the problems instead of throwing; in a backlog array each report stands on its own,
 * so one bad element does not cost the good ones.
 */
export function parseTelemetryMessage(payload: Uint8Array | string, maxBytes = 64 * 1024): ParsedTelemetry {
  const size =
    typeof payload === 'string' ? new TextEncoder().encode(payload).byteLength : payload.byteLength;
  if (size > maxBytes) {
    return {
      reports: [],
      rejected: [{ index: null, reason: 'oversize', detail: `${size} bytes > ${maxBytes}` }],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : new TextDecoder().decode(payload));
  } catch (e) {
    return {
      reports: [],
      rejected: [{ index: null, reason: 'malformed_json', detail: (e as Error).message.slice(0, 200) }],
    };
  }
  if (!Array.isArray(json)) {
    const r = TelemetrySchema.safeParse(json);
    return r.success
      ? { reports: [r.data], rejected: [] }
      : { reports: [], rejected: [{ index: null, reason: 'schema', detail: describe(r.error) }] };
  }
  if (json.length === 0) {
    return { reports: [], rejected: [{ index: null, reason: 'empty', detail: 'empty backlog array' }] };
  }
  if (json.length > MAX_BACKLOG) {
    return {
      reports: [],
      rejected: [
        { index: null, reason: 'too_many_reports', detail: `${json.length} reports > ${MAX_BACKLOG}` },
      ],
    };
  }
  const out: ParsedTelemetry = { reports: [], rejected: [] };
  json.forEach((item, index) => {
    const r = TelemetrySchema.safeParse(item);
    if (r.success) out.reports.push(r.data);
    else out.rejected.push({ index, reason: 'schema', detail: describe(r.error) });
  });
  return out;
}

/** A fix is usable as a location only when the device says so (absent `fix` counts as a fix). */
export function hasUsableFix(t: Pick<Telemetry, 'fix' | 'lat' | 'lon'>): boolean {
  return t.fix !== false && !(t.lat === 0 && t.lon === 0);
}
