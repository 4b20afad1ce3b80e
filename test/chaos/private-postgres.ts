/**
 * A PostgreSQL server of the chaos run's own: `initdb` into a temporary folder with the machine's
 * binaries (/usr/lib/postgresql/15/bin unless PG_BIN says otherwise), on a free loopback port, so
 * that restarting it in the middle of a run harms no other database on the machine. Removed with
 * its folder at stop().
 *
 * PostgreSQL refuses to run as root: when this process is root, initdb and pg_ctl run as the
 * `postgres` account (the folder is handed to it).
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './ports.ts';

const run = promisify(execFile);
export const DEFAULT_PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** fast: clients are disconnected, open transactions roll back, a clean shutdown checkpoint.
 *  immediate: the server stops as in a crash and replays its WAL at start (what a power cut does). */
export type PgStopMode = 'fast' | 'immediate';

export interface PrivatePostgres {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** Stops (in `mode`) and starts the server again on the same port and data; resolves when it accepts connections. */
  restart(mode?: PgStopMode): Promise<void>;
  /** The server's log (for a failure's evidence). */
  log(): string;
  stop(): Promise<void>;
}

/** The uid/gid to run PostgreSQL as: ours, or `postgres`'s when we are root. */
async function account(): Promise<{ uid: number; gid: number } | null> {
  if (process.getuid?.() !== 0) return null;
  const id = async (flag: string) => Number((await run('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}

export async function startPrivatePostgres({ bin = DEFAULT_PG_BIN } = {}): Promise<PrivatePostgres> {
  if (!existsSync(join(bin, 'initdb'))) {
    throw new Error(`no initdb in ${bin}: install PostgreSQL's server binaries or set PG_BIN`);
  }
  const as = await account();
  const dir = mkdtempSync(join(tmpdir(), 'chaos-pg-'));
  if (as) chownSync(dir, as.uid, as.gid);
  const data = join(dir, 'data');
  const logFile = join(dir, 'server.log');
  const port = await freePort();
  const exec = (tool: string, args: string[]) =>
    run(join(bin, tool), args, {
      cwd: dir,
      ...(as ?? {}),
      env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8', ...(as ? { HOME: dir } : {}) },
      maxBuffer: 16 * 2 ** 20,
    });
  // Durability as production has it (fsync and synchronous_commit on, the defaults): the run must
  // find out whether an acknowledged report survives the restart, not a faster configuration's answer.
  await exec('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  const serverOptions = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses='127.0.0.1'",
    // Four app processes with pools of 10, the run's own connections, headroom for reconnect storms.
    '-c max_connections=200',
  ].join(' ');
  const start = () =>
    exec('pg_ctl', ['-D', data, '-l', logFile, '-w', '-t', '120', '-o', serverOptions, 'start']);
  await start();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await waitAccepting(url);
  let stopped = false;
  return {
    url,
    port,
    async restart(mode = 'fast') {
      await exec('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '120', 'stop']);
      await start();
      await waitAccepting(url);
    },
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
    async stop() {
      if (stopped) return;
      stopped = true;
      await exec('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '60', 'stop']).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Until a connection and `select 1` succeed (pg_ctl -w returns once the postmaster is up). */
async function waitAccepting(url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.query('select 1');
      return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(`private PostgreSQL not accepting at ${url}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      await client.end().catch(() => {});
    }
  }
}
