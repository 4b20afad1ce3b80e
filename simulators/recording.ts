/**
 * Recorded broker traffic as NDJSON, one message a line: `{"t":…,"topic":"…","payload":"…"}`.
 * `t` is when the message was heard (epoch ms), `payload` the message as a UTF-8 string (status
 * payloads are not JSON, so telemetry is kept as text too, byte for byte).
 */
import { z } from 'zod';

export const RecordedMessageSchema = z.object({
  t: z.number().int().nonnegative(),
  topic: z.string().min(1),
  payload: z.string(),
});
export type RecordedMessage = z.infer<typeof RecordedMessageSchema>;

export function toNdjsonLine(m: RecordedMessage): string {
  return `${JSON.stringify({ t: m.t, topic: m.topic, payload: m.payload })}\n`;
}

/** Parses a recording; a bad line is an error with its line number, not a silent skip. */
export function parseRecording(text: string): RecordedMessage[] {
  const out: RecordedMessage[] = [];
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      throw new Error(`recording line ${i + 1}: not JSON`);
    }
    const r = RecordedMessageSchema.safeParse(json);
    if (!r.success) throw new Error(`recording line ${i + 1}: ${r.error.issues[0]?.message ?? 'invalid'}`);
    out.push(r.data);
  });
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.t < out[i - 1]!.t) throw new Error(`recording line ${i + 1}: time goes backwards`);
  }
  return out;
}

/**
 * Moves every telemetry report's device time by `shiftMs`, so an old recording replays as if
 * live (the platform keeps only the newest position per device, by device time).
 */
export function retimePayload(topic: string, payload: string, shiftMs: number): string {
  if (shiftMs === 0 || !topic.endsWith('/telemetry')) return payload;
  try {
    const json = JSON.parse(payload) as unknown;
    const shift = (r: unknown) => {
      if (typeof r === 'object' && r !== null && typeof (r as { ts?: unknown }).ts === 'number') {
        (r as { ts: number }).ts += shiftMs;
      }
    };
    if (Array.isArray(json)) json.forEach(shift);
    else shift(json);
    return JSON.stringify(json);
  } catch {
    return payload; // malformed on purpose, perhaps: replay it as it was
  }
}
