/**
 * Dead letters are kept DEAD_LETTER_RETENTION_DAYS (default 30): long enough to find why a box's
 * reports were refused, short enough that a misbehaving box cannot fill the disk. A plain delete on
 * the received_at index, at start and then hourly, on every engine: ingest_rejects is an ordinary
 * table (one row per rejected message, few next to telemetry), so TimescaleDB's chunk retention
 * has nothing to drop. Several workers running it at once only delete the same rows.
 */
import type { Logger } from 'pino';
import type { Sql } from '../db/client.ts';
import { deleteDeadLettersBefore } from '../db/dead-letters.ts';

export interface RetentionJob {
  /** One pass now; resolves with the rows deleted. */
  run(): Promise<number>;
  stop(): void;
}

export function startDeadLetterRetention(options: {
  db: Sql;
  /** 0 keeps every dead letter. */
  days: number;
  logger: Logger;
  now?: () => number;
  everyMs?: number;
}): RetentionJob {
  const now = options.now ?? Date.now;
  const run = async () => {
    if (options.days === 0) return 0;
    const deleted = await deleteDeadLettersBefore(options.db, new Date(now() - options.days * 86_400_000));
    if (deleted > 0) options.logger.info({ deleted, days: options.days }, 'old dead letters deleted');
    return deleted;
  };
  const pass = () => {
    run().catch((e) => options.logger.error({ err: e }, 'dead-letter retention failed; next pass retries'));
  };
  pass();
  const timer = setInterval(pass, options.everyMs ?? 3_600_000);
  timer.unref();
  return { run, stop: () => clearInterval(timer) };
}
