/**
 * Command writes run through here: one transaction; every transition inside it is written to the
 * audit log in that same transaction, and announced live only after the commit (a rolled-back
 * transition is never shown).
 */
import type { Database, Sql } from '../../db/client.ts';
import type { CommandUpdate } from '../../shared/live.ts';
import type { TransitionListener } from './store.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  subject: string;
  detail: Record<string, unknown>;
}

export interface CommandFeed {
  /** `record` appends any other security-relevant act (a dispute override) to the audit log. */
  run<T>(
    fn: (
      tx: Sql,
      onTransition: TransitionListener,
      record: (entry: AuditEntry) => Promise<void>,
    ) => Promise<T>,
  ): Promise<T>;
}

export function commandFeed(
  db: Database,
  publish: (updates: CommandUpdate[]) => void,
  audit?: (tx: Sql, entry: AuditEntry) => Promise<unknown>,
): CommandFeed {
  return {
    async run(fn) {
      const pending: CommandUpdate[] = [];
      const result = await db.transaction((tx) =>
        fn(
          tx,
          async (inner, c, t) => {
            const update: CommandUpdate = {
              commandId: c.id,
              deviceId: c.deviceId,
              contractId: c.contractId,
              type: c.type,
              from: t.from,
              to: t.to,
              at: t.at,
              actor: t.actor,
              reason: t.reason,
            };
            await audit?.(inner, {
              actor: t.actor,
              action: `command.${t.to.toLowerCase()}`,
              subject: `command:${c.id}`,
              detail: { ...update, policy: t.policy },
            });
            pending.push(update);
          },
          async (entry) => {
            await audit?.(tx, entry);
          },
        ),
      );
      if (pending.length > 0) publish(pending);
      return result;
    },
  };
}
