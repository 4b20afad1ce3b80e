/**
 * `npm run broker:sync`: rewrites the Mosquitto password file of the registry's enabled devices
 * from the database, e.g. after a restore (which notifies no api node), or on a process that does
 * not keep the file itself. It takes its turn with the api nodes' rewrites (db/devices.ts
 * withBrokerCredentials), so it cannot put an older registry over a newer one. Reads the same
 * variables as the platform (DATABASE_URL or DATA_DIR, MOSQUITTO_PASSWORD_FILE); `--file PATH`
 * overrides the last one.
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../db/client.ts';
import { migrate } from '../db/migrate.ts';
import { parseConfig } from '../shared/config.ts';
import { syncPasswordFile } from './mosquitto-sync.ts';

const USAGE = `usage: npm run broker:sync [-- --file PATH]

Writes every enabled device of the registry to a Mosquitto password file (atomically, only if it
changed). The database is DATABASE_URL, or the embedded one under DATA_DIR; the file is
MOSQUITTO_PASSWORD_FILE unless --file is given.`;

async function main(): Promise<number> {
  let args: { file?: string | undefined; help?: boolean | undefined };
  try {
    args = parseArgs({
      options: { file: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const env = args.file === undefined ? process.env : { ...process.env, MOSQUITTO_PASSWORD_FILE: args.file };
  const parsed = parseConfig(env);
  if (!parsed.ok) {
    process.stderr.write(`invalid configuration:\n  ${parsed.errors.join('\n  ')}\n`);
    return 2;
  }
  const { config } = parsed;
  if (!config.MOSQUITTO_PASSWORD_FILE) {
    process.stderr.write(`MOSQUITTO_PASSWORD_FILE is not set and no --file given.\n\n${USAGE}\n`);
    return 2;
  }
  const db = await openDatabase({ url: config.DATABASE_URL, dataDir: join(config.DATA_DIR, 'pgdata') });
  try {
    await migrate(db);
    const r = await syncPasswordFile(db, config.MOSQUITTO_PASSWORD_FILE);
    process.stdout.write(
      `${r.changed ? 'wrote' : 'unchanged:'} ${r.devices} device${r.devices === 1 ? '' : 's'} in ${r.path}\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`broker:sync failed: ${e.message}\n`);
    process.exit(1);
  },
);
