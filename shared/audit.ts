/**
 * The audit chain, pure: how an entry is written down for hashing, how each entry's hash binds it
 * to the one before, and how a run of entries is checked.
 *
 *   canonical(entry) = RFC 8785 (JSON Canonicalization Scheme) of
 *                      { seq, at, actor, action, subject, detail }, `at` as ISO 8601 UTC with
 *                      milliseconds ("2026-11-28T09:30:00.000Z")
 *   hash(entry)      = lowercase hex SHA-256 of UTF-8( prevHash + "\n" + canonical(entry) )
 *   prevHash         = the previous entry's hash; for seq 1, GENESIS_HASH (64 zeros)
 *
 * Seq numbers are dense (1, 2, 3, …): a missing number is a removed entry. RFC 8785 sorts keys and
 * fixes number and string formats, so anyone can recompute a hash with any JCS implementation.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

/** The prevHash of the first entry: no entry comes before it. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller records; the chain adds seq, time and hashes. */
export interface AuditInput {
  /** Who did it: a username, or "system:…" / "cli:…" for the platform and its command lines. */
  actor: string;
  /** What was done, dotted lower case: "auth.login", "user.create", "command.approve". */
  action: string;
  /** What it was done to, "kind:id": "user:3f2a…", "command:17", "contract:C-2026-001". */
  subject: string;
  /** Anything else worth keeping, as JSON (never a password or a token). */
  detail: Record<string, unknown>;
}

export interface AuditEntry extends AuditInput {
  seq: number;
  at: Date;
}

export interface ChainedEntry extends AuditEntry {
  prevHash: string;
  hash: string;
}

export type BreakReason = 'hash mismatch' | 'prev_hash mismatch' | 'gap in seq';

export interface ChainBreak {
  seq: number;
  reason: BreakReason;
}

export interface ChainReport {
  ok: boolean;
  /** Entries checked (all of them, also past a break). */
  count: number;
  /** The first entry that does not hold, or null. */
  firstBroken: ChainBreak | null;
  /** The last entry read: publish it elsewhere as an anchor (see docs/security.md). */
  head: { seq: number; hash: string } | null;
}

/** The text that is hashed; throws on what JSON cannot carry faithfully (NaN, lone surrogates). */
export function canonicalEntry(e: AuditEntry): string {
  const text = canonicalize({
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    action: e.action,
    subject: e.subject,
    detail: e.detail,
  });
  if (text === undefined) throw new Error('audit entry cannot be written as JSON');
  return text;
}

export function chainHash(prevHash: string, entry: AuditEntry): string {
  return createHash('sha256')
    .update(`${prevHash}\n${canonicalEntry(entry)}`, 'utf8')
    .digest('hex');
}

/**
 * The detail as it will read back from a jsonb column: what JSON keeps (undefined dropped, dates
 * as strings). Hash this, not the caller's object, so the stored row verifies.
 */
export function jsonDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const round = JSON.parse(JSON.stringify(detail ?? {})) as unknown;
  if (round === null || typeof round !== 'object' || Array.isArray(round)) {
    throw new Error('audit detail must be a JSON object');
  }
  return round as Record<string, unknown>;
}

/**
 * Checks entries fed in seq order, one page at a time, keeping only the last hash: a table of any
 * length is verified in constant memory. Start from the genesis, or from a trusted (seq, hash).
 */
export class ChainVerifier {
  private last: { seq: number; hash: string };
  private broken: ChainBreak | null = null;
  private count = 0;

  constructor(from: { seq: number; hash: string } = { seq: 0, hash: GENESIS_HASH }) {
    this.last = from;
  }

  push(e: ChainedEntry): void {
    this.count += 1;
    if (this.broken === null) this.broken = this.check(e);
    this.last = { seq: e.seq, hash: e.hash };
  }

  private check(e: ChainedEntry): ChainBreak | null {
    if (e.seq !== this.last.seq + 1) return { seq: e.seq, reason: 'gap in seq' };
    if (e.prevHash !== this.last.hash) return { seq: e.seq, reason: 'prev_hash mismatch' };
    if (e.hash !== rehash(e)) return { seq: e.seq, reason: 'hash mismatch' };
    return null;
  }

  report(): ChainReport {
    return {
      ok: this.broken === null,
      count: this.count,
      firstBroken: this.broken,
      head: this.count > 0 ? { ...this.last } : null,
    };
  }
}

/** The hash an entry should have; null when it cannot be written canonically (so it was not written here). */
function rehash(e: ChainedEntry): string | null {
  try {
    return chainHash(e.prevHash, e);
  } catch {
    return null;
  }
}

/** Checks a whole chain from the genesis. */
export function verifyChain(entries: Iterable<ChainedEntry>): ChainReport {
  const verifier = new ChainVerifier();
  for (const e of entries) verifier.push(e);
  return verifier.report();
}

/** Builds the next entry of a chain (used by the writer and by tests). */
export function nextEntry(
  prev: { seq: number; hash: string } | null,
  input: AuditInput,
  at: Date,
): ChainedEntry {
  const entry: AuditEntry = {
    seq: (prev?.seq ?? 0) + 1,
    at,
    actor: input.actor,
    action: input.action,
    subject: input.subject,
    detail: jsonDetail(input.detail),
  };
  const prevHash = prev?.hash ?? GENESIS_HASH;
  return { ...entry, prevHash, hash: chainHash(prevHash, entry) };
}
