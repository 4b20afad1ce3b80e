/**
 * The daily recomputation: an instalment becomes overdue at midnight (contract-local) with no
 * payment arriving, so every active account whose figures are from an earlier day is recomputed.
 * Checked every few minutes, not once at midnight, so a process that was down catches up at start.
 * Several api nodes may run it: each account is recomputed under its row lock and only when its
 * stage_as_of is still behind, so two nodes never record the same change twice.
 */
import type { Logger } from 'pino';
import type { Database } from '../../db/client.ts';
import { localDate } from '../../shared/calendar-date.ts';
import type { StageChange } from '../../shared/live.ts';
import { refreshAccount } from './store.ts';

export interface DailyRefreshOptions {
  db: Database;
  logger: Logger;
  now?: () => number;
  onStageChanges?: (changes: StageChange[]) => void;
  everyMs?: number;
}

/** One pass: recomputes the accounts that are behind today; returns the stage changes. */
export async function refreshDueAccounts(
  db: Database,
  now: number,
): Promise<{ refreshed: number; changes: StageChange[] }> {
  const { rows } = await db.query<{ id: string; timezone: string; stage_as_of: string | null }>(
    `select id, timezone, stage_as_of::text from contract where status = 'active'`,
  );
  const behind = rows.filter((r) => r.stage_as_of === null || r.stage_as_of < localDate(now, r.timezone));
  const changes: StageChange[] = [];
  for (const r of behind) {
    const today = localDate(now, r.timezone);
    const change = await db.transaction(async (tx) => {
      // Another node may have done it meanwhile: check again under the row lock.
      const { rows: current } = await tx.query<{ stage_as_of: string | null }>(
        'select stage_as_of::text from contract where id = $1 for update',
        [r.id],
      );
      const asOf = current[0]?.stage_as_of;
      if (asOf !== null && asOf !== undefined && asOf >= today) return null;
      return refreshAccount(tx, r.id, today, 'daily recomputation', now);
    });
    if (change) changes.push(change);
  }
  return { refreshed: behind.length, changes };
}

export function startDailyRefresh(o: DailyRefreshOptions): { stop(): Promise<void> } {
  const now = o.now ?? Date.now;
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    running = refreshDueAccounts(o.db, now())
      .then(({ refreshed, changes }) => {
        if (refreshed > 0)
          o.logger.info({ refreshed, stageChanges: changes.length }, 'accounts recomputed for the new day');
        if (changes.length > 0) o.onStageChanges?.(changes);
      })
      .catch((e) => o.logger.error({ err: e }, 'daily recomputation failed; retrying at the next tick'))
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, o.everyMs ?? 5 * 60_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
