/**
 * Key rotation from the command line (docs/security.md, "Keys and sessions"):
 *
 *   npm run keys -- rewrap              wraps every stored secret under KEY_ENCRYPTION_KEY (the old
 *                                       key in KEY_ENCRYPTION_KEY_PREVIOUS)
 *   npm run keys -- roll <deviceId>     a new token and command key for the device; prints the token once
 *   npm run keys -- status              the current key's fingerprint and how much is not under it yet
 *
 * On PostgreSQL (DATABASE_URL) while the platform runs; embedded (the database and key under
 * DATA_DIR) only while it is stopped. Each change is in the audit chain as `cli:<OS account>`. Exit 2
 * for a bad command line, 1 for a failed run (an unknown device, a key that does not open).
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { keyringFromConfig, keysNotUnder, openKeys } from '../../db/keys.ts';
import { openMigratedDatabase } from '../../db/migrate.ts';
import { configProblems, parseConfig } from '../../shared/config.ts';
import { rewrapAll, rollDevice } from './keys.ts';

const USAGE = `usage:
  npm run keys -- rewrap
  npm run keys -- roll <deviceId> [--reason "<why>"]
  npm run keys -- status
reads DATABASE_URL (or DATA_DIR), KEY_ENCRYPTION_KEY and KEY_ENCRYPTION_KEY_PREVIOUS`;

class UsageError extends Error {}

function operator(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

async function run(argv: string[]): Promise<void> {
  let parsed: ReturnType<
    typeof parseArgs<{ options: { reason: { type: 'string' } }; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { reason: { type: 'string' } },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const [command, deviceId, ...rest] = parsed.positionals;
  if (!command || !['rewrap', 'roll', 'status'].includes(command))
    throw new UsageError(command ? `unknown command ${command}` : 'which command?');
  if (command === 'roll' && !deviceId) throw new UsageError('roll needs a device id');
  if (rest.length > 0 || (command !== 'roll' && deviceId)) throw new UsageError('too many arguments');

  const env = parseConfig(process.env);
  if (!env.ok) throw new UsageError(`invalid configuration:\n  ${env.errors.join('\n  ')}`);
  const config = { ...env.config, ROLES: ['api' as const] };
  const problems = configProblems(config).filter((p) => !p.startsWith('JWT_SECRET'));
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  const ring = keyringFromConfig(config);
  if (!ring) throw new UsageError('KEY_ENCRYPTION_KEY is not set');

  const db = await openMigratedDatabase(config, pino({ level: 'warn' }));
  try {
    await openKeys(db, ring);
    if (command === 'rewrap') {
      const r = await rewrapAll(db, operator());
      process.stdout.write(
        `re-wrapped ${r.rewrapped} keys (and ${r.wrappedPlain} stored in plain text) under ${r.fingerprint}\n`,
      );
    } else if (command === 'roll') {
      const rolled = await rollDevice(db, deviceId!, operator(), parsed.values.reason ?? '');
      if (!rolled) throw new Error(`no device ${deviceId}`);
      process.stdout.write(`rolled the key of ${deviceId}; its new token (shown once): ${rolled.token}\n`);
    } else {
      const left = await keysNotUnder(db, ring.current.fingerprint);
      process.stdout.write(`current key ${ring.current.fingerprint}; ${left} keys not under it\n`);
    }
  } finally {
    await db.close();
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  const usage = e instanceof UsageError;
  process.stderr.write(`keys: ${(e as Error).message}${usage ? `\n${USAGE}` : ''}\n`);
  process.exit(usage ? 2 : 1);
});
