/**
 * The audit_log table (db/migrations/009_audit.sql): appending inside the caller's transaction,
 * reading pages, and verifying the whole chain in constant memory. The hashing is shared/audit.ts.
 */
import type { Database, Sql } from '../../db/client.ts';
import {
  type AuditInput,
  type ChainedEntry,
  type ChainReport,
  ChainVerifier,
  nextEntry,
} from '../../shared/audit.ts';
import { commandInScope, contractInScope, EVERYTHING, seesAll, type Viewer } from '../auth/scope.ts';

/** Held from the append to the end of the caller's transaction: one append at a time, in commit order. */
const APPEND_LOCK = 727_009;

interface Row {
  seq: number | string;
  at: Date;
  actor: string;
  action: string;
  subject: string;
  detail: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const COLUMNS = 'seq, at, actor, action, subject, detail, prev_hash, hash';

const toEntry = (r: Row): ChainedEntry => ({
  seq: Number(r.seq),
  at: r.at,
  actor: r.actor,
  action: r.action,
  subject: r.subject,
  detail: r.detail,
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * Appends one entry. Call it with the transaction of the act it records, so both commit or
 * neither does. The lock is held until that transaction ends, so every other audited transaction
 * waits there: append as late in the transaction as is convenient.
 */
export async function appendAudit(tx: Sql, input: AuditInput): Promise<ChainedEntry> {
  await tx.query('select pg_advisory_xact_lock($1)', [APPEND_LOCK]);
  // A statement after the lock: under READ COMMITTED it sees the last committed append. (Under a
  // stricter isolation begun earlier it may not; the primary key on seq then refuses the insert.)
  const { rows } = await tx.query<{ seq: number | string | null; hash: string | null; now: Date }>(
    `select last.seq, last.hash, date_trunc('milliseconds', clock_timestamp()) as now
       from (select 1) as one
       left join lateral (select seq, hash from audit_log order by seq desc limit 1) as last on true`,
  );
  const head = rows[0];
  if (!head) throw new Error('audit_log: could not read the head of the chain');
  const prev = head.seq === null || head.hash === null ? null : { seq: Number(head.seq), hash: head.hash };
  const entry = nextEntry(prev, input, head.now);
  await tx.query(
    `insert into audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
     overriding system value
     values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
    [
      entry.seq,
      entry.at,
      entry.actor,
      entry.action,
      entry.subject,
      JSON.stringify(entry.detail),
      entry.prevHash,
      entry.hash,
    ],
  );
  return entry;
}

/**
 * Runs fn in a transaction: the given one when `db` already is a transaction's handle, a new one
 * when it is the database. For functions that audit and are called both ways.
 */
export function inTransaction<T>(db: Sql, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return isDatabase(db) ? db.transaction(fn) : fn(db);
}

const isDatabase = (db: Sql): db is Database => typeof (db as Partial<Database>).transaction === 'function';

/**
 * Entries after `after` (a seq), oldest first. With a viewer outside the scope all, only the
 * entries about a contract or a command in the viewer's scope (the rest is someone else's record).
 */
export async function listAudit(
  db: Sql,
  after: number,
  limit: number,
  viewer: Viewer = EVERYTHING,
): Promise<ChainedEntry[]> {
  const params: unknown[] = [after, limit];
  const inScope = seesAll(viewer)
    ? 'true'
    : `(exists (select 1 from contract c where 'contract:' || c.id = audit_log.subject
                and ${contractInScope(viewer, 'c', params)})
        or exists (select 1 from command k where 'command:' || k.id = audit_log.subject
                   and ${commandInScope(viewer, 'k', params)}))`;
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from audit_log where seq > $1 and ${inScope} order by seq limit $2`,
    params,
  );
  return rows.map(toEntry);
}

export const VERIFY_PAGE = 5_000;

/**
 * Verifies the chain from the genesis, a page at a time: memory does not grow with the table, and
 * the next page is read while this one is hashed.
 */
export async function verifyAuditChain(db: Sql, pageSize = VERIFY_PAGE): Promise<ChainReport> {
  const verifier = new ChainVerifier();
  let next: Promise<ChainedEntry[]> | null = listAudit(db, 0, pageSize);
  while (next) {
    const page: ChainedEntry[] = await next;
    next = page.length === pageSize ? listAudit(db, page[page.length - 1]!.seq, pageSize) : null;
    for (const entry of page) verifier.push(entry);
  }
  return verifier.report();
}
