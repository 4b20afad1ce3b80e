/**
 * Ingest against a real broker: two workers share the subscription and split the traffic with
 * nothing lost or stored twice; a worker killed with SIGKILL mid-stream loses nothing, because
 * unacknowledged messages stay with its persistent session and are redelivered when it returns.
 * Needs MQTT_URL (Mosquitto): the embedded aedes has no shared subscriptions, and it lives inside
 * the process that would be killed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { startIngest } from '../../ingest/worker.ts';
import { topics } from '../../shared/protocol.ts';
import { forgetSessions, runUnique, uniqueIngestIdentity } from '../support/broker-sessions.ts';
import { realBroker, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const silent = pino({ level: 'silent' });
const tag = randomBytes(3).toString('hex');

async function publishReports(url: string, devices: number, perDevice: number, onEach?: (n: number) => void) {
  const client = await mqtt.connectAsync(url, { clientId: runUnique('pub'), clean: true });
  const t0 = Date.now() - 3_600_000;
  let n = 0;
  for (let i = 0; i < perDevice; i++) {
    await Promise.all(
      Array.from({ length: devices }, (_, d) =>
        client.publishAsync(
          topics.telemetry(`W${tag}-${d}`),
          JSON.stringify({ v: 1, seq: i, ts: t0 + i * 1000, lat: 30 + d / 100, lon: 120 + i / 1000 }),
          { qos: 1 },
        ),
      ),
    );
    n += devices;
    onEach?.(n);
  }
  await client.endAsync();
  return n;
}

/** Ingest stores telemetry only for devices in the registry. */
async function provisionReporters(db: Database, devices: number) {
  await provisionDevices(
    db,
    Array.from({ length: devices }, (_, d) => ({
      deviceId: `W${tag}-${d}`,
      token: `token-${tag}-${d}`.padEnd(32, '0'),
      machine: {
        id: `MW${tag}-${d}`,
        make: 'Zoomlion',
        model: 'ZE215E',
        type: 'excavator',
        serial: `SW${tag}-${d}`,
        year: 2020,
      },
    })),
  );
}

const counts = async (db: Database) =>
  (
    await db.query<{ rows: number; distinct: number }>(
      `select count(*)::int as rows,
              count(distinct (device_id, ts, seq))::int as distinct
       from telemetry where device_id like $1`,
      [`W${tag}-%`],
    )
  ).rows[0]!;

describe.skipIf(!realBroker)('ingest workers on a real broker', () => {
  let scratch: ScratchDatabase | undefined;
  let db: Database | undefined;
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
    await db?.close();
    await scratch?.drop();
  });

  it('two workers share the subscription: both take part, nothing lost, nothing stored twice', async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
    await migrate(db);
    await provisionReporters(db, 10);
    const writes = [0, 0];
    // One group for both workers, used by this run alone: sessions other runs left in a group
    // would take a share of the messages.
    const { shareGroup } = uniqueIngestIdentity();
    const worker = async (i: number) => {
      // Each worker's own counting view of the database, to see that both took part.
      const counted: Database = {
        ...db!,
        transaction: (fn) => {
          writes[i]!++;
          return db!.transaction(fn);
        },
      };
      const clientId = `${shareGroup}-${i}`;
      const w = await startIngest({
        db: counted,
        mqttUrl: realBroker!,
        clientId,
        shareGroup,
        logger: silent,
        maxPayloadBytes: 65536,
        maxClockSkewMs: 300_000,
      });
      cleanups.push(async () => {
        await w.stop();
        await forgetSessions(realBroker!, [clientId]);
      });
    };
    await worker(0);
    await worker(1);
    const published = await publishReports(realBroker!, 10, 100);
    const c = await waitFor(
      async () => {
        const x = await counts(db!);
        return x.distinct === published ? x : null;
      },
      { timeoutMs: 30_000, what: `${published} rows` },
    );
    expect(c.rows).toBe(published);
    expect(writes[0]).toBeGreaterThan(0);
    expect(writes[1]).toBeGreaterThan(0);
  });

  it('loses nothing when the worker is killed with SIGKILL mid-stream and comes back', async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
    await migrate(db);
    await provisionReporters(db, 6);
    // Killed, the worker leaves its session in its group; a group of this run's own keeps sessions
    // other runs left from taking messages, and the session is removed at the end.
    const { clientId, shareGroup } = uniqueIngestIdentity('ingest-kill');
    const startWorker = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts'], {
        cwd: ROOT,
        env: {
          ...process.env,
          ROLES: 'ingest',
          // Its ops server (health, metrics) on a free port: other files run workers at the same time.
          PORT: '0',
          MQTT_URL: realBroker,
          DATABASE_URL: scratch!.url,
          INGEST_CLIENT_ID: clientId,
          INGEST_SHARE_GROUP: shareGroup,
          SIM_DEVICES: '0',
          LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('ingest connected')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`ingest exited early with ${code}`)));
      });
      return child;
    };
    let child = await startWorker();
    cleanups.push(async () => {
      // The session goes only once the worker is gone: a live one would reconnect and remake it.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await forgetSessions(realBroker!, [clientId]);
    });
    let killedAt = 0;
    const published = await publishReports(realBroker!, 6, 100, (n) => {
      if (killedAt === 0 && n >= 180) {
        child.kill('SIGKILL');
        killedAt = n;
      }
    });
    expect(killedAt).toBeGreaterThan(0);
    const before = await counts(db);
    child = await startWorker();
    const c = await waitFor(
      async () => {
        const x = await counts(db!);
        return x.distinct === published ? x : null;
      },
      { timeoutMs: 30_000, what: `${published} rows after the restart` },
    );
    expect(before.distinct).toBeLessThan(published);
    expect(c.rows).toBe(published);
  });
});
