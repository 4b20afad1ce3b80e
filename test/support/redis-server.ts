/**
 * A Redis server of the test's own on loopback (the machine's `redis-server`), for tests that stop
 * and start Redis: the shared one (REDIS_URL) is never stopped. No persistence: a restart comes
 * back empty, as a Redis without a disk would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Redis } from 'ioredis';
import { freePort } from '../../deploy/cluster/start.ts';
import { waitFor } from './wait.ts';

export const REDIS_SERVER = process.env.REDIS_SERVER_BIN ?? '/usr/bin/redis-server';
export const hasRedisServer = existsSync(REDIS_SERVER);

export interface OwnRedis {
  url: string;
  /** Kills the server (SIGKILL: a crash, nothing saved). */
  crash(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | null = null;
  const answers = async () => {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };
  const own: OwnRedis = {
    url,
    async start() {
      const server = spawn(
        REDIS_SERVER,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        { stdio: 'ignore' },
      );
      child = server;
      await waitFor(
        async () => {
          if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode}`);
          return answers();
        },
        { what: 'redis-server to answer' },
      );
    },
    async crash() {
      const server = child;
      child = null;
      if (!server || server.exitCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    },
    stop: () => own.crash(),
  };
  await own.start();
  return own;
}
