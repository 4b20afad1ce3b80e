/**
 * Keeps a Mosquitto password file in step with the device registry: every enabled device that has
 * a broker credential (db/migrations/003_broker_credentials.sql), nothing else. The file is written
 * atomically and only when it changes; whoever runs the broker reloads it when it does
 * (deploy/mosquitto/entrypoint.sh watches it and sends mosquitto SIGHUP).
 *
 * Several api nodes keep the file, each hearing of every node's changes (db/devices.ts
 * onCredentialsChanged). Their rewrites take turns under one database lock and read the registry
 * once it is their turn (db/devices.ts withBrokerCredentials), so the file always ends as the
 * registry's latest committed state, whichever node writes last. One rewrite at a time per process
 * (broker/coalesced-run.ts), so a rewrite waiting for its turn holds one pooled connection, never
 * one per change.
 */
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { Database } from '../db/client.ts';
import { type CredentialsListener, withBrokerCredentials } from '../db/devices.ts';
import { coalescedRun } from './coalesced-run.ts';
import { renderPasswordFile, replaceFile } from './mosquitto-passwords.ts';

export interface PasswordFileSyncResult {
  path: string;
  devices: number;
  /** False when the file already held exactly these devices. */
  changed: boolean;
}

/** Rewrites the file from the registry, in its turn among every writer of the platform. */
export function syncPasswordFile(db: Database, path: string): Promise<PasswordFileSyncResult> {
  return withBrokerCredentials(db, async (entries) => {
    const changed = await replaceFile(path, renderPasswordFile(entries));
    return { path, devices: entries.length, changed };
  });
}

/**
 * How long a change waits before the rewrite, so that the changes committed within it share one:
 * a bank provisioning devices one by one, through any nodes, costs each node about five rewrites a
 * second, not one per device. The broker reads the file every 2 s (MOSQUITTO_DEVICES_POLL_SECONDS),
 * so this adds nothing a device would notice.
 */
const SETTLE_MS = 200;
/** After a failed rewrite (the database or the disk away), the next try. */
const RETRY_MS = 5_000;

/**
 * Writes the registry's devices to the broker's password file now, and again within SETTLE_MS of
 * every change in the registry (`onCredentialsChanged` registers a listener and returns its
 * removal), whichever process committed it. A failure at start stops the process (a path that
 * cannot be written is a configuration error); a failure later is logged, leaves the previous
 * file, whole, in place, and is tried again every RETRY_MS until a rewrite works. Returns the stop
 * function.
 */
export async function keepPasswordFileInSync(options: {
  db: Database;
  path: string;
  logger: Logger;
  /** Where to count the rewrites (broker_password_file_syncs_total); none when absent. */
  metrics?: Registry | undefined;
  onCredentialsChanged: (listener: CredentialsListener) => Promise<() => Promise<void>>;
}): Promise<() => Promise<void>> {
  const { db, path, logger } = options;
  let started = false;
  let stopping = false;
  const syncs = options.metrics
    ? new Counter({
        name: 'broker_password_file_syncs_total',
        help: 'Rewrites of the broker password file from the registry, by outcome (written, unchanged, failed)',
        labelNames: ['outcome'],
        registers: [options.metrics],
      })
    : null;
  const sync = coalescedRun(
    async () => {
      try {
        const result = await syncPasswordFile(db, path);
        syncs?.inc({ outcome: result.changed ? 'written' : 'unchanged' });
        if (started && result.changed) logger.info(result, 'broker password file updated');
        return result;
      } catch (e) {
        syncs?.inc({ outcome: 'failed' });
        throw e;
      }
    },
    (e) => {
      if (stopping) return;
      logger.error(
        { err: e, path },
        `broker password file not updated; trying again in ${RETRY_MS / 1000} s`,
      );
      sync.soon(RETRY_MS);
    },
  );
  // Listening first: a change committed between the first rewrite and the LISTEN would be missed.
  const unsubscribe = await options.onCredentialsChanged(async (change) => {
    if (change === 'reconnected')
      logger.info({ path }, 'rewriting the broker password file after reconnecting');
    sync.soon(SETTLE_MS);
  });
  try {
    const first = await sync.now();
    started = true;
    logger.info(first, 'broker password file written');
  } catch (e) {
    stopping = true;
    await sync.stop();
    await unsubscribe();
    throw new Error(`MOSQUITTO_PASSWORD_FILE: cannot write ${path}: ${(e as Error).message}`);
  }
  return async () => {
    stopping = true;
    await unsubscribe();
    await sync.stop();
  };
}
