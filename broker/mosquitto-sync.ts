/**
 * Keeps a Mosquitto password file in step with the device registry: every enabled device that has
 * a broker credential (db/migrations/003_broker_credentials.sql), nothing else. The file is written
 * atomically and only when it changes; whoever runs the broker reloads it when it does
 * (deploy/mosquitto/entrypoint.sh watches it and sends mosquitto SIGHUP).
 */
import type { Logger } from 'pino';
import type { Sql } from '../db/client.ts';
import { deviceBrokerCredentials } from '../db/devices.ts';
import { renderPasswordFile, replaceFile } from './mosquitto-passwords.ts';

export interface PasswordFileSyncResult {
  path: string;
  devices: number;
  /** False when the file already held exactly these devices. */
  changed: boolean;
}

export async function syncPasswordFile(db: Sql, path: string): Promise<PasswordFileSyncResult> {
  const entries = await deviceBrokerCredentials(db);
  const changed = await replaceFile(path, renderPasswordFile(entries));
  return { path, devices: entries.length, changed };
}

/**
 * syncPasswordFile for one file, one run at a time. A request that arrives while a run is going
 * waits for one more run after it (requests that pile up meanwhile share that run): a run that
 * started before the last registry change must never be the last one to write the file.
 */
export function passwordFileSync(db: Sql, path: string): () => Promise<PasswordFileSyncResult> {
  let running: Promise<PasswordFileSyncResult> | null = null;
  let next: Promise<PasswordFileSyncResult> | null = null;
  const run = (): Promise<PasswordFileSyncResult> => {
    const current = syncPasswordFile(db, path).finally(() => {
      if (running === current) running = null;
    });
    running = current;
    return current;
  };
  return () => {
    if (next) return next;
    if (!running) return run();
    const after = running
      .catch(() => undefined)
      .then(() => {
        next = null;
        return run();
      });
    next = after;
    return after;
  };
}

/**
 * Writes the registry's devices to the broker's password file now, and again after every change in
 * the registry (`onCredentialsChanged` registers a listener and returns its removal). A failure at
 * start stops the process (a path that cannot be written is a configuration error); a failure later
 * is logged and leaves the previous file, whole, in place. Returns the stop function.
 */
export async function keepPasswordFileInSync(options: {
  db: Sql;
  path: string;
  logger: Logger;
  onCredentialsChanged: (listener: () => Promise<void>) => () => void;
}): Promise<() => Promise<void>> {
  const { db, path, logger } = options;
  const sync = passwordFileSync(db, path);
  const first = await sync().catch((e: Error) => {
    throw new Error(`MOSQUITTO_PASSWORD_FILE: cannot write ${path}: ${e.message}`);
  });
  logger.info(first, 'broker password file written');
  const unsubscribe = options.onCredentialsChanged(async () => {
    try {
      const result = await sync();
      if (result.changed) logger.info(result, 'broker password file updated');
    } catch (e) {
      logger.error({ err: e, path }, 'broker password file not updated; npm run broker:sync retries');
    }
  });
  return async () => unsubscribe();
}
