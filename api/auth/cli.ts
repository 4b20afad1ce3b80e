/**
 * Managing users on a PostgreSQL deployment (the embedded platform makes its demo users itself):
 *
 *   npm run users -- add <username> --role risk_manager [--role auditor] [--name "Li Na"] (--password P | --generate)
 *   npm run users -- demo               the demo users of docs/security.md, password "demo" (not for production)
 *   npm run users -- disable <username> signs the user out everywhere and refuses new sign-ins
 *   npm run users -- unlock <username>  lifts the user name's sign-in lock now (docs/security.md)
 *   npm run users -- scope <username> (--all | --assigned | --dealer D1 [--dealer D2…])  what the user sees
 *   npm run users -- list
 *
 * Reads DATABASE_URL and applies pending migrations first. Exit 2 for a bad command line, 1 for a
 * failed run (a taken username, an unreachable database).
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { ScopeSchema } from '../../shared/api/users.ts';
import { type Config, parseConfig } from '../../shared/config.ts';
import { isRole, ROLES, type Role } from '../../shared/roles.ts';
import { describeScope, type Scope } from '../../shared/scope.ts';
import { DEMO_PASSWORD, DEMO_USERS, ensureDemoUsers } from './demo-users.ts';
import { unlockUser } from './throttle.ts';
import {
  createUser,
  disableUser,
  findUserByUsername,
  listUsers,
  setUserScope,
  UserInputError,
} from './users.ts';

const USAGE = `usage:
  npm run users -- add <username> --role <role> [--role <role>…] [--name "<display name>"] (--password <p> | --generate)
  npm run users -- demo
  npm run users -- disable <username>
  npm run users -- unlock <username>
  npm run users -- scope <username> (--all | --assigned | --dealer <dealer id> [--dealer <dealer id>…])
  npm run users -- list
roles: ${ROLES.join(', ')}; needs DATABASE_URL`;

class UsageError extends Error {}

/** The environment read as the platform reads it (shared/config.ts); a bad value is a usage error. */
function configuration(): Config {
  const parsed = parseConfig(process.env);
  if (!parsed.ok) throw new UsageError(`invalid configuration:\n  ${parsed.errors.join('\n  ')}`);
  return parsed.config;
}

/** Who ran the command, for the audit log: the operating-system account. */
function operator(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli:unknown';
  }
}

async function run(argv: string[]): Promise<void> {
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: argv,
        allowPositionals: true,
        strict: true,
        options: {
          role: { type: 'string', multiple: true },
          name: { type: 'string' },
          password: { type: 'string' },
          generate: { type: 'boolean' },
          all: { type: 'boolean' },
          assigned: { type: 'boolean' },
          dealer: { type: 'string', multiple: true },
          help: { type: 'boolean', short: 'h' },
        },
      });
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  })();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const [command, username, ...rest] = positionals;
  if (rest.length > 0) throw new UsageError(`unexpected ${rest.join(' ')}`);
  if (!command || !['add', 'demo', 'disable', 'unlock', 'scope', 'list'].includes(command)) {
    throw new UsageError(command ? `unknown command ${command}` : 'which command?');
  }
  if (['add', 'disable', 'unlock', 'scope'].includes(command) && !username)
    throw new UsageError(`${command} needs a username`);

  let scope: Scope | undefined;
  if (command === 'scope') {
    const dealers = values.dealer ?? [];
    const chosen = [values.all, values.assigned, dealers.length > 0].filter(Boolean).length;
    if (chosen !== 1) throw new UsageError('scope needs one of --all, --assigned, --dealer <id>…');
    scope = values.all
      ? { kind: 'all' }
      : values.assigned
        ? { kind: 'assigned' }
        : { kind: 'dealers', dealerIds: dealers };
    const parsed = ScopeSchema.safeParse(scope);
    if (!parsed.success)
      throw new UsageError(`bad scope: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }

  let roles: Role[] = [];
  let password = '';
  if (command === 'add') {
    const given = values.role ?? [];
    const unknown = given.filter((r) => !isRole(r));
    if (given.length === 0) throw new UsageError('add needs at least one --role');
    if (unknown.length > 0)
      throw new UsageError(`unknown role ${unknown.join(', ')}; roles are ${ROLES.join(', ')}`);
    roles = given as Role[];
    if (values.password !== undefined && values.generate)
      throw new UsageError('give --password or --generate, not both');
    if (values.password === undefined && !values.generate)
      throw new UsageError('give --password <p> or --generate');
    password = values.password ?? randomBytes(12).toString('base64url');
    if (password.length < 8) throw new UsageError('--password must be at least 8 characters');
  }

  const url = configuration().DATABASE_URL;
  if (!url) {
    throw new UsageError('DATABASE_URL is not set (the embedded platform creates its demo users at start)');
  }
  const db = await openDatabase({ url });
  try {
    await migrate(db);
    if (command === 'add') {
      const user = await createUser(
        db,
        { username: username!, name: values.name ?? username!, password, roles },
        operator(),
      );
      process.stdout.write(`created ${user.username} (${user.roles.join(', ')})\n`);
      if (values.generate) process.stdout.write(`password: ${password}\n`);
    } else if (command === 'demo') {
      const created = await ensureDemoUsers(db);
      const all = DEMO_USERS.map((u) => u.username);
      process.stdout.write(
        `demo users ${all.join(', ')} (password "${DEMO_PASSWORD}"): ${created.length > 0 ? `created ${created.join(', ')}` : 'all there already'}\n`,
      );
    } else if (command === 'disable') {
      const user = await findUserByUsername(db, username!);
      if (!user) throw new UserInputError(`no user ${username}`);
      await disableUser(db, user.id, operator());
      process.stdout.write(`disabled ${user.username}\n`);
    } else if (command === 'unlock') {
      const { username: name, failures } = await unlockUser(db, username!, operator());
      process.stdout.write(
        failures > 0
          ? `unlocked ${name}: ${failures} failed sign-ins no longer count for it\n`
          : `${name} had no failed sign-ins counting against it\n`,
      );
    } else if (command === 'scope') {
      const user = await setUserScope(db, username!, scope!, operator());
      if (!user) throw new UserInputError(`no user ${username}`);
      process.stdout.write(`${user.username} sees ${describeScope(user.scope)}\n`);
    } else {
      for (const u of await listUsers(db)) {
        const state = u.disabledAt ? `  disabled ${u.disabledAt.toISOString()}` : '';
        process.stdout.write(
          `${u.username}\t${u.roles.join(',')}\t${u.name}\tscope: ${describeScope(u.scope)}${state}\n`,
        );
      }
    }
  } finally {
    await db.close();
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  const usage = e instanceof UsageError;
  process.stderr.write(`users: ${(e as Error).message}${usage ? `\n${USAGE}` : ''}\n`);
  process.exit(usage ? 2 : 1);
});
