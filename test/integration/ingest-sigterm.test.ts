/**
 * Graceful shutdown of an ingest process (ROLES=ingest, as production runs it) on a real broker:
 * SIGTERM in the middle of a backlog stops taking messages, writes and acknowledges what it holds,
 * and exits 0, staying a member of its shared group (so the broker keeps queueing its share).
 * Everything it acknowledged is in the database, and a new worker with the same client id collects
 * what its persistent session still held — in flight or queued: every message stored exactly once.
 * Needs MQTT_URL: the embedded broker lives in the process that is stopped, and with it the queue.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { topics } from '../../shared/protocol.ts';
import { forgetSessions, runUnique, uniqueIngestIdentity } from '../support/broker-sessions.ts';
import { realBroker, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tag = randomBytes(3).toString('hex');
const DEVICES = 8;
// 480 messages: well within the default max_queued_messages (1000) of a plain Mosquitto, which also
// counts the retained statuses the session is sent when it subscribes.
const PER_DEVICE = 60;

interface Worker {
  child: ChildProcess;
  /** pino lines the process wrote, parsed. */
  logs: Record<string, unknown>[];
  exited: Promise<number | null>;
}

describe.skipIf(!realBroker)('ingest on SIGTERM', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!().catch(() => {});
  });

  it('stops mid-stream, exits 0 with what it acknowledged stored; a restart stores whatever was left, each once', async () => {
    const scratch: ScratchDatabase = await scratchDatabase();
    cleanups.push(() => scratch.drop());
    const dataDir = scratch.dataDir ?? mkdtempSync(join(tmpdir(), 'rt-sigterm-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    // PGlite allows one process at a time: the test opens the database only while no worker runs.
    const withDb = async <T>(fn: (db: Database) => Promise<T>): Promise<T> => {
      const db = await scratch.open();
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    };
    await withDb(async (db) => {
      await migrate(db);
      await provisionDevices(
        db,
        Array.from({ length: DEVICES }, (_, d) => ({
          deviceId: `T${tag}-${d}`,
          token: `token-${tag}-${d}`.padEnd(32, '0'),
          machine: {
            id: `MT${tag}-${d}`,
            make: 'LiuGong',
            model: '922F',
            type: 'excavator',
            serial: `ST${tag}-${d}`,
            year: 2019,
          },
        })),
      );
    });
    // The session and its share group are this run's own: sessions other runs left in a group
    // would take a share of the burst. The session is removed at the end (after every worker has
    // exited: cleanups run last pushed first).
    const { clientId, shareGroup } = uniqueIngestIdentity('ingest-sigterm');
    cleanups.push(() => forgetSessions(realBroker!, [clientId]));

    const startWorker = async (): Promise<Worker> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          ROLES: 'ingest',
          // Its ops server (health, metrics) on a free port: other files run workers at the same time.
          PORT: '0',
          MQTT_URL: realBroker,
          DATABASE_URL: scratch.url ?? '',
          DATA_DIR: dataDir,
          INGEST_CLIENT_ID: clientId,
          INGEST_SHARE_GROUP: shareGroup,
          SIM_DEVICES: '0',
          LOG_LEVEL: 'debug',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const logs: Record<string, unknown>[] = [];
      let rest = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        const lines = (rest + chunk.toString()).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (line.startsWith('{')) logs.push(JSON.parse(line) as Record<string, unknown>);
        }
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      cleanups.push(async () => {
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
      });
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`ingest exited early with ${child.exitCode}`);
          return logs.some((l) => l.msg === 'ingest connected');
        },
        { timeoutMs: 30_000, what: 'ingest connected' },
      );
      return { child, logs, exited };
    };
    const commits = (w: Worker) => w.logs.filter((l) => l.msg === 'committed');
    const committed = (w: Worker) => commits(w).reduce((n, l) => n + (l.messages as number), 0);
    // Telemetry rows in its commits. The worker takes every device topic, so on a shared broker its
    // messages include others' traffic (retained statuses, say), refused as unknown devices; only
    // this file's devices are registered, so only this burst makes rows.
    const rowsWritten = (w: Worker) => commits(w).reduce((n, l) => n + (l.rows as number), 0);

    // The worker's session subscribes, then the worker dies without leaving it, so the broker queues
    // the whole burst for the session: the next start meets a backlog.
    const first = await startWorker();
    first.child.kill('SIGKILL');
    await first.exited;
    const publisher = await mqtt.connectAsync(realBroker!, {
      clientId: runUnique('pub-sigterm'),
      clean: true,
    });
    cleanups.push(() => publisher.endAsync(true));
    const t0 = Date.now() - 3_600_000;
    const published = DEVICES * PER_DEVICE;
    for (let i = 0; i < PER_DEVICE; i++) {
      await Promise.all(
        Array.from({ length: DEVICES }, (_, d) =>
          publisher.publishAsync(
            topics.telemetry(`T${tag}-${d}`),
            JSON.stringify({ v: 1, seq: i, ts: t0 + i * 1000, lat: 30 + d / 100, lon: 120 + i / 1000 }),
            { qos: 1 },
          ),
        ),
      );
    }

    // Mid-stream: the first rows of the burst are committed.
    const second = await startWorker();
    await waitFor(async () => rowsWritten(second) > 0, { timeoutMs: 30_000, what: 'a first commit' });
    second.child.kill('SIGTERM');
    const code = await Promise.race([
      second.exited,
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 10_000)),
    ]);
    expect(code).toBe(0);
    const stopped = second.logs.find((l) => l.msg === 'ingest stopped');
    expect(stopped, 'the worker reports what it acknowledged').toBeDefined();
    const acknowledged = stopped!.acknowledged as number;
    // It flushed: every batch it committed was acknowledged before it disconnected.
    expect(acknowledged).toBe(committed(second));
    // What it committed is exactly what is stored of the burst: once each, nothing more.
    const half = await withDb((db) => counts(db));
    expect(half.rows).toBe(half.distinct);
    expect(half.rows).toBe(rowsWritten(second));
    expect(half.rows).toBeGreaterThan(0);
    expect(half.rows).toBeLessThanOrEqual(published);

    // The same client id again: the session hands over whatever it still held.
    const third = await startWorker();
    const rest = published - half.rows;
    await waitFor(async () => rowsWritten(third) >= rest, {
      timeoutMs: 30_000,
      what: `the other ${rest} reports committed after the restart`,
    });
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
    // Exactly once: nothing acknowledged was lost (it would never be delivered again), nothing twice.
    expect(await withDb((db) => counts(db))).toEqual({ rows: published, distinct: published });
  });
});

async function counts(db: Database): Promise<{ rows: number; distinct: number }> {
  const { rows } = await db.query<{ rows: number; distinct: number }>(
    `select count(*)::int as rows, count(distinct (device_id, ts, seq))::int as distinct
     from telemetry where device_id like $1`,
    [`T${tag}-%`],
  );
  return rows[0]!;
}
