/**
 * A Mosquitto of the chaos run's own: a private `mosquitto` process on a free loopback port with a
 * configuration of its own in a temporary folder, so that restarting it harms no other broker's
 * clients. It keeps what the production broker keeps across a restart — persistence on (sessions,
 * queued QoS 1 messages, retained messages) with deploy/mosquitto/mosquitto.conf's autosave
 * interval, session expiry and queue limits — and leaves out what the run does not test:
 * listeners for TLS and devices, passwords and the ACL (it is anonymous, as the ingest bench's own
 * broker is). restart() is what `docker compose restart mosquitto` does: SIGTERM (mosquitto writes
 * its database on the way out), then a new process on the same port, folder and configuration.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chownSync, createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, listening } from './ports.ts';

const PROJECT_CONF = fileURLToPath(new URL('../../deploy/mosquitto/mosquitto.conf', import.meta.url));
/** What is copied from the production configuration: the queues, flow control and what survives a restart. */
const COPIED = [
  'max_queued_messages',
  'max_queued_bytes',
  'max_inflight_messages',
  'max_inflight_bytes',
  'queue_qos0_messages',
  'message_size_limit',
  'persistent_client_expiration',
  'autosave_interval',
];

export function productionSettings(): string[] {
  return readFileSync(PROJECT_CONF, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => COPIED.includes(l.split(/\s+/)[0] ?? ''));
}

export interface PrivateMosquitto {
  url: string;
  port: number;
  /** SIGTERM, wait for the exit (the database is written), start again; resolves when it listens. */
  restart(): Promise<void>;
  /** The broker's log. */
  log(): string;
  stop(): Promise<void>;
}

export async function startPrivateMosquitto({
  binary = '/usr/sbin/mosquitto',
} = {}): Promise<PrivateMosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'chaos-mosquitto-'));
  // Run as root, mosquitto drops to the `mosquitto` account, which must be able to write its database.
  if (process.getuid?.() === 0) {
    const id = async (flag: string) =>
      Number((await promisify(execFile)('id', [flag, 'mosquitto'])).stdout.trim());
    chownSync(dir, await id('-u'), await id('-g'));
  }
  const conf = join(dir, 'mosquitto.conf');
  const logFile = join(dir, 'mosquitto.log');
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      'connection_messages false',
      ...productionSettings(),
      '',
    ].join('\n'),
  );
  const log = createWriteStream(logFile, { flags: 'a' });
  let child: ChildProcess | null = null;
  const start = async () => {
    const c = spawn(binary, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr?.pipe(log, { end: false });
    child = c;
    const deadline = Date.now() + 30_000;
    while (!(await listening(port))) {
      if (c.exitCode !== null) throw new Error(`mosquitto exited with ${c.exitCode}: ${tail(logFile)}`);
      if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port}: ${tail(logFile)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const terminate = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill(signal);
    await exited;
  };
  await start();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async restart() {
      await terminate('SIGTERM');
      await start();
    },
    log: () => readFileSync(logFile, 'utf8'),
    async stop() {
      await terminate('SIGTERM');
      log.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const tail = (file: string) => {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join(' | ');
  } catch {
    return '';
  }
};
