/**
 * One box's commands go out one at a time, whichever api node sends them, so that they reach the
 * broker in the order of their counters. The box refuses a command whose counter is not above the
 * last one it took (a replay). The counter is taken in the send's transaction and the command
 * published after the commit (never a send unrecorded); without this lock two nodes sending to one
 * box at once took counters 7 and 8 and could publish 8 first, and the box refused 7 — a release
 * among them as often as not. The lock is held from before the counter is taken until the broker
 * has confirmed the message.
 *
 * On PostgreSQL it is a transaction-level advisory lock on the device (`pg_try_advisory_xact_lock`),
 * held by a transaction of its own on another pooled connection, around the send's transaction and
 * the publish. It is the database's own lock, so it passes on by itself: a node that dies drops its
 * connections and with them the lock; one that hangs with the lock (a publish that never returns)
 * loses it when the server ends its idle transaction after `leaseSeconds`. Not a session-level
 * lock: one left on a pooled connection by an error path would outlive the send. Tried, never
 * waited for: a box another node is sending to is skipped, and its command comes up again in a
 * later pass, usually the other node's own.
 *
 * Within a node sends run one at a time, which also bounds what they hold of the pool (two
 * connections). PGlite is one process and one connection: there that queue is the whole lock.
 */
import type { Database } from '../../db/client.ts';

/** The key space of these locks among the database's advisory locks (two-int form; ASCII "cmd"). */
const SEND_LOCKS = 0x636d64;

export interface SendLock {
  /**
   * Runs `send` holding the device's lock and resolves true; resolves false without running it
   * when another node holds the lock.
   */
  withDevice(deviceId: string, send: () => Promise<void>): Promise<boolean>;
}

export function sendLock(
  db: Database,
  { leaseSeconds = 30 }: { leaseSeconds?: number | undefined } = {},
): SendLock {
  let queue: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(fn: () => Promise<T>): Promise<T> => {
    const result = queue.then(fn);
    queue = result.catch(() => {});
    return result;
  };

  async function underAdvisoryLock(deviceId: string, send: () => Promise<void>): Promise<boolean> {
    let sent = false;
    try {
      return await db.transaction(async (tx) => {
        // The lease: this transaction's own idle timeout (set_config local), then the lock.
        const { rows } = await tx.query<{ held: boolean }>(
          `select set_config('idle_in_transaction_session_timeout', $3, true) is not null
             and pg_try_advisory_xact_lock($1, hashtext($2)) as held`,
          [SEND_LOCKS, deviceId, `${Math.round(leaseSeconds)}s`],
        );
        if (!rows[0]?.held) return false;
        await send();
        sent = true;
        return true;
      });
    } catch (e) {
      // The send went out; only the lock's own transaction (it wrote nothing) ended badly, e.g. its
      // lease ran out during a slow publish. Nothing to undo.
      if (sent) return true;
      throw e;
    }
  }

  return {
    withDevice: (deviceId, send) =>
      oneAtATime(async () => {
        if (db.engine === 'pglite') {
          await send();
          return true;
        }
        return underAdvisoryLock(deviceId, send);
      }),
  };
}
