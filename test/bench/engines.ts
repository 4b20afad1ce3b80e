/**
 * Engines for the ingest bench: a broker (MQTT_URL, an own Mosquitto with the production queue
 * limits, or an embedded aedes WITHOUT authentication — the bench measures ingest, not auth) and a
 * database (a scratch database on DATABASE_URL, dropped afterwards, or PGlite in memory).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import { type Database, openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { scratchDatabase } from '../support/engines.ts';

export interface BenchBroker {
  url: string;
  name: string;
  /** Whether `$share/…` subscriptions work (Mosquitto yes, aedes no). */
  shared: boolean;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startAedes(): Promise<BenchBroker> {
  const aedes = await Aedes.createBroker();
  const server: Server = createServer(aedes.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = (server.address() as { port: number }).port;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    name: 'aedes(embedded, no auth)',
    shared: false,
    async close() {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const PROJECT_CONF = fileURLToPath(new URL('../../deploy/mosquitto/mosquitto.conf', import.meta.url));
/** The queue and flow-control settings copied from the project's broker configuration. */
const COPIED = [
  'max_queued_messages',
  'max_queued_bytes',
  'max_inflight_messages',
  'max_inflight_bytes',
  'queue_qos0_messages',
  'message_size_limit',
];

export function projectQueueLimits(): string[] {
  return readFileSync(PROJECT_CONF, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => COPIED.includes(l.split(/\s+/)[0] ?? ''));
}

/** Our own Mosquitto on a free port: anonymous, no persistence, the project's queue limits. */
export async function startMosquitto(binary = '/usr/sbin/mosquitto'): Promise<BenchBroker> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'bench-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const limits = projectQueueLimits();
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      ...limits,
      '',
    ].join('\n'),
  );
  const child = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited: ${stderr.trim()}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    name: `mosquitto(own, ${limits.map((l) => l.replace(/\s+/, '=')).join(' ')})`,
    shared: true,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function openBroker(options: { mosquitto: boolean }): Promise<BenchBroker> {
  if (options.mosquitto) return startMosquitto();
  const url = process.env.MQTT_URL;
  if (url) return { url, name: `external ${url}`, shared: true, close: async () => {} };
  return startAedes();
}

export interface BenchDatabase {
  db: Database;
  name: string;
  close(): Promise<void>;
}

/** A migrated database nobody else uses: scratch on DATABASE_URL (dropped on close) or PGlite. */
export async function openBenchDatabase(): Promise<BenchDatabase> {
  const scratch = await scratchDatabase();
  const db = await openDatabase({ url: scratch.url });
  try {
    await migrate(db);
  } catch (e) {
    await db.close();
    await scratch.drop();
    throw e;
  }
  return {
    db,
    name: scratch.url ? `postgres scratch ${new URL(scratch.url).pathname.slice(1)}` : 'pglite (in memory)',
    async close() {
      await db.close();
      await scratch.drop();
    },
  };
}
