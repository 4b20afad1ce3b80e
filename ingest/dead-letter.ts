/**
 * A dead letter: one rejected message as ingest keeps it. One per message, however many of its
 * reports were bad — a backlog of 1,000 bad reports is one row counting 1,000 problems, not 1,000
 * rows each carrying a copy of the payload — with the first problems in words and the payload's
 * first bytes as evidence.
 */

/** Problems kept in words per dead letter; the rest are only counted in `reasons`. */
export const EXAMPLES_KEPT = 5;
/** Characters of one problem's words kept. */
const EXAMPLE_CHARS = 200;
/** Bytes of a rejected payload kept as evidence, unless ingest is told otherwise. */
export const EVIDENCE_BYTES = 1024;

export interface Problem {
  reason: string;
  detail: string;
}

export interface RejectRow {
  topic: string;
  deviceId: string | null;
  /** The first problem's reason. */
  reason: string;
  /** Problems counted by reason, in the order each reason first occurred. */
  reasons: Record<string, number>;
  /** The first EXAMPLES_KEPT problems in words. */
  examples: string[];
  /** The payload's first bytes as text (NUL bytes dropped, as PostgreSQL wants). */
  payload: string;
  /** The whole payload's size. */
  payloadBytes: number;
  receivedAt: number;
}

/** A rejected message: where it came from, its first bytes (at most what is kept) and its size. */
export interface RejectedMessage {
  topic: string;
  deviceId: string | null;
  evidence: Uint8Array;
  payloadBytes: number;
  receivedAt: number;
}

/** The dead letter of one message and its problems (at least one). */
export function deadLetter(message: RejectedMessage, problems: readonly Problem[]): RejectRow {
  const reasons: Record<string, number> = {};
  for (const p of problems) reasons[p.reason] = (reasons[p.reason] ?? 0) + 1;
  return {
    topic: withoutNul(message.topic),
    deviceId: message.deviceId,
    reason: problems[0]?.reason ?? 'unknown',
    reasons,
    // A problem's words may quote the device's bytes (JSON.parse does).
    examples: problems.slice(0, EXAMPLES_KEPT).map((p) => withoutNul(p.detail.slice(0, EXAMPLE_CHARS))),
    payload: withoutNul(new TextDecoder().decode(message.evidence)),
    payloadBytes: message.payloadBytes,
    receivedAt: message.receivedAt,
  };
}

/** Each problem of the dead letters once per report it stands for: what the metrics count. */
export function problemReasons(rejects: readonly RejectRow[]): string[] {
  return rejects.flatMap((r) => Object.entries(r.reasons).flatMap(([reason, n]) => Array(n).fill(reason)));
}

/**
 * PostgreSQL refuses a NUL in text, and a batch it refuses is retried forever, holding up every
 * box's reports behind it: whatever a device sent is stored without its NULs.
 */
function withoutNul(text: string): string {
  return text.replaceAll('\u0000', '');
}
