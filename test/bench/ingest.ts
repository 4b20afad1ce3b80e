/**
 * Ingest benchmark: how many device reports per second go from MQTT publish to a committed row,
 * next to what the broker alone and the database alone sustain on the same machine.
 *   npm run bench:ingest -- --devices 1000 --duration 20 --qos 1 [--mosquitto]
 * Engines as everywhere: MQTT_URL (else embedded aedes without auth, or --mosquitto for an own
 * Mosquitto with the project's queue limits) and DATABASE_URL (a scratch database, dropped at the
 * end; else PGlite in memory). Publishers run in a child process; broker (if embedded), ingest and
 * database (if embedded) share this process. Prints a table, then one JSON line. See
 * docs/benchmarks.md.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import pino from 'pino';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database, Sql } from '../../db/client.ts';
import { type TelemetryRow, writeBatch } from '../../ingest/store.ts';
import { startIngest } from '../../ingest/worker.ts';
import { DEFAULT_MAX_BATCH } from '../../shared/config.ts';
import type { Telemetry } from '../../shared/protocol.ts';
import { forgetSessions, uniqueIngestIdentity } from '../support/broker-sessions.ts';
import { type BenchBroker, openBenchDatabase, openBroker } from './engines.ts';
import { benchDeviceId, benchReport, type PublishPlan, type PublishResult } from './publisher.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PUBLISHER = fileURLToPath(new URL('./publisher.ts', import.meta.url));

const USAGE = `Usage: npm run bench:ingest -- [options]
  --devices N       simulated devices, one MQTT connection each (default 1000)
  --duration S      seconds of publishing in the ingest run (default 20)
  --qos 0|1         publish QoS (default 1); ingest always subscribes at QoS 1
  --window N        unacknowledged publishes per device connection (default 4)
  --max-batch N     most reports per ingest transaction (default ${DEFAULT_MAX_BATCH}, INGEST_MAX_BATCH)
  --raw-messages M  messages for the raw broker baseline (default 100000)
  --db-rows R       rows for the raw database baseline, in batches of 5000 (default 100000)
  --mosquitto       start an own /usr/sbin/mosquitto (anonymous, the queue limits of
                    deploy/mosquitto/mosquitto.conf) instead of MQTT_URL / embedded aedes
  --skip-baselines  only the ingest run
  --help
Env: MQTT_URL (else embedded aedes, no auth), DATABASE_URL (a scratch database is created and
dropped; else PGlite in memory). The last line of output is one JSON object.
`;

// --- small helpers -------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const percentile = (sorted: Float64Array | number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
const round = (n: number, digits = 0) => Math.round(n * 10 ** digits) / 10 ** digits;
const mb = (bytes: number) => round(bytes / 2 ** 20, 1);
const log = (line: string) => process.stderr.write(`${line}\n`);

class RssSampler {
  peak = process.memoryUsage().rss;
  private timer: NodeJS.Timeout;
  constructor() {
    this.timer = setInterval(() => this.sample(), 100);
  }
  sample() {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
  }
  stop() {
    this.sample();
    clearInterval(this.timer);
  }
}

/** The publishers in a child process (own event loop and core). */
class PublisherChild {
  private child: ChildProcess;
  private waiters = new Map<string, { resolve(m: unknown): void; reject(e: Error): void }>();

  constructor() {
    this.child = fork(PUBLISHER, ['--bench-publisher'], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: { type: string; message?: string }) => {
      if (m.type === 'error') {
        for (const w of this.waiters.values()) w.reject(new Error(`publisher: ${m.message}`));
        this.waiters.clear();
        return;
      }
      this.waiters.get(m.type)?.resolve(m);
      this.waiters.delete(m.type);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiters.values()) w.reject(new Error(`publisher exited with ${code}`));
      this.waiters.clear();
    });
  }

  private expect<T>(type: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiters.set(type, { resolve: resolve as (m: unknown) => void, reject });
    });
  }

  async connect(plan: PublishPlan): Promise<number> {
    const ready = this.expect<{ connectSeconds: number }>('ready');
    this.child.send({ type: 'plan', plan });
    return (await ready).connectSeconds;
  }

  async run(): Promise<PublishResult> {
    const done = this.expect<{ result: PublishResult }>('done');
    this.child.send({ type: 'go' });
    return (await done).result;
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'exit' });
    await exited;
  }
}

async function publishFromChild(plan: PublishPlan, onStart?: () => void): Promise<PublishResult> {
  const child = new PublisherChild();
  try {
    const connectSeconds = await child.connect(plan);
    log(`  ${plan.devices} publisher connections up in ${connectSeconds.toFixed(1)} s`);
    onStart?.();
    return await child.run();
  } finally {
    await child.exit();
  }
}

// --- baseline A: broker → plain subscriber, no database ------------------------------------------

interface RawBrokerResult {
  published: number;
  received: number;
  msgPerSec: number;
  publishRate: number;
}

async function rawBroker(broker: BenchBroker, o: Options): Promise<RawBrokerResult> {
  const sub = await mqtt.connectAsync(broker.url, {
    clientId: `bench-raw-sub-${Math.random().toString(36).slice(2, 8)}`,
    clean: true,
    reconnectPeriod: 0,
  });
  let received = 0;
  let lastAt = 0;
  sub.on('message', () => {
    received++;
    lastAt = Date.now();
  });
  await sub.subscribeAsync('bench/raw/#', { qos: o.qos });
  const pub = await publishFromChild({
    mqttUrl: broker.url,
    devices: o.devices,
    qos: o.qos,
    durationS: Math.max(o.durationS, 60),
    maxMessages: o.rawMessages,
    prefix: 'bench/raw',
    window: o.window,
  });
  // Until everything published arrived, or nothing arrived for 3 s.
  for (let last = -1, idleSince = Date.now(); received < pub.published; ) {
    await sleep(100);
    if (received !== last) {
      last = received;
      idleSince = Date.now();
    } else if (Date.now() - idleSince > 3000) break;
  }
  await sub.endAsync(true);
  const seconds = Math.max(0.001, (lastAt - pub.firstPublishAt) / 1000);
  return {
    published: pub.published,
    received,
    msgPerSec: received / seconds,
    publishRate: pub.published / Math.max(0.001, (pub.lastPublishAt - pub.firstPublishAt) / 1000),
  };
}

// --- baseline B: database insert rate, no broker -------------------------------------------------

interface RawDbResult {
  rows: number;
  rowsPerSec: number;
}

async function rawDatabase(db: Database, o: Options): Promise<RawDbResult> {
  const batchSize = 5000;
  const t = Date.now() - 3_600_000; // an hour ago, so these rows never collide with the ingest run's
  const batches: TelemetryRow[][] = [];
  for (let i = 0; i < o.dbRows; i += batchSize) {
    const batch: TelemetryRow[] = [];
    for (let j = i; j < Math.min(o.dbRows, i + batchSize); j++) {
      const device = j % o.devices;
      const seq = Math.floor(j / o.devices);
      const report = JSON.parse(benchReport(device, seq, t + j)) as Telemetry;
      batch.push({ deviceId: `R-${benchDeviceId(device)}`, receivedAt: t + j, report });
    }
    batches.push(batch);
  }
  const start = performance.now();
  for (const telemetry of batches) {
    await db.transaction((tx) => writeBatch(tx, { telemetry, rejects: [], statuses: [] }));
  }
  const seconds = (performance.now() - start) / 1000;
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from telemetry where device_id like 'R-%'`,
  );
  if (rows[0]!.n !== o.dbRows) throw new Error(`raw db: wrote ${o.dbRows} rows, found ${rows[0]!.n}`);
  // Leave the ingest run an empty table, as production's recent chunk would be small too.
  await db.exec('truncate telemetry; truncate latest_position');
  return { rows: o.dbRows, rowsPerSec: o.dbRows / seconds };
}

// --- the real thing ------------------------------------------------------------------------------

interface IngestResult {
  sent: number;
  published: number;
  failed: number;
  stored: number;
  distinct: number;
  duplicates: number;
  loss: number;
  msgPerSec: number;
  publishRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  receiveP50Ms: number;
  receiveP99Ms: number;
  commits: number;
  avgBatch: number;
  drainSeconds: number;
  peakRssBytes: number;
  publisherPeakRssBytes: number;
}

/**
 * Wraps the database handed to ingest: on every commit, notes the time, and the device times of the
 * telemetry rows it carried (the `ts` parameter of the telemetry insert), so latency is publish →
 * commit, not publish → receipt.
 */
function instrument(db: Database, latencies: number[], stats: { commits: number; lastCommitAt: number }) {
  const wrapped: Database = {
    engine: db.engine,
    query: (text, params) => db.query(text, params),
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
    async transaction(fn) {
      let ts: unknown[] = [];
      const result = await db.transaction((tx) => {
        const spy: Sql = {
          query: (text, params) => {
            if (/insert into telemetry\b/i.test(text) && Array.isArray(params?.[1])) ts = params[1];
            return tx.query(text, params);
          },
          exec: (sql) => tx.exec(sql),
        };
        return fn(spy);
      });
      const now = Date.now();
      stats.commits++;
      if (ts.length > 0) {
        stats.lastCommitAt = now;
        for (const t of ts) latencies.push(now - Date.parse(t as string));
      }
      return result;
    },
  };
  return wrapped;
}

async function ingestRun(broker: BenchBroker, db: Database, o: Options): Promise<IngestResult> {
  const latencies: number[] = [];
  const stats = { commits: 0, lastCommitAt: 0 };
  // A session and a group of the run's own: on a shared broker, sessions other workers left in a
  // group (theirs or a killed bench's) must not take a share of the bench's messages.
  const ingest = uniqueIngestIdentity('bench-ingest');
  // Ingest stores telemetry only for devices in the registry.
  await provisionDevices(
    db,
    Array.from({ length: o.devices }, (_, d) => ({
      deviceId: benchDeviceId(d),
      token: `bench-token-${d}`.padEnd(32, '0'),
      machine: {
        id: `M-${benchDeviceId(d)}`,
        make: 'Sany',
        model: 'SY215C',
        type: 'excavator',
        serial: `S-${benchDeviceId(d)}`,
        year: 2022,
      },
    })),
  );
  const rss = new RssSampler();
  const worker = await startIngest({
    db: instrument(db, latencies, stats),
    mqttUrl: broker.url,
    clientId: ingest.clientId,
    shareGroup: broker.shared ? ingest.shareGroup : null,
    logger: pino({ level: 'silent' }),
    maxPayloadBytes: 65536,
    maxClockSkewMs: 300_000,
    maxBatch: o.maxBatch,
  });
  const count = async () => {
    const { rows } = await db.query<{ n: number }>(
      `select count(*)::int as n from telemetry where device_id like 'B-%'`,
    );
    return rows[0]!.n;
  };
  let pub: PublishResult;
  let drainStart = 0;
  try {
    pub = await publishFromChild({
      mqttUrl: broker.url,
      devices: o.devices,
      qos: o.qos,
      durationS: o.durationS,
      prefix: 'devices',
      window: o.window,
    });
    drainStart = Date.now();
    // Wait until stored rows stop increasing: all published stored and nothing in hand, or 5 s
    // without a new row (lost messages never come), at most 10 minutes.
    for (let last = -1, idleSince = Date.now(); ; ) {
      await sleep(250);
      const n = await count();
      if (n >= pub.published && worker.depth() === 0) break;
      if (n !== last) {
        last = n;
        idleSince = Date.now();
      } else if (Date.now() - idleSince > 5000) break;
      if (Date.now() - drainStart > 600_000) break;
    }
  } finally {
    await worker.stop();
    rss.stop();
    // The worker's persistent session would otherwise stay on the broker for good.
    if (broker.shared) {
      await forgetSessions(broker.url, [ingest.clientId]).catch((e: Error) =>
        log(`  could not remove the session ${ingest.clientId}: ${e.message}`),
      );
    }
  }
  const { rows } = await db.query<{ stored: number; distinct: number; rp50: number; rp99: number }>(
    `select count(*)::int as stored,
            count(distinct (device_id, seq))::int as distinct,
            coalesce(percentile_cont(0.5) within group (order by extract(epoch from received_at - ts) * 1000), 0)::float8 as rp50,
            coalesce(percentile_cont(0.99) within group (order by extract(epoch from received_at - ts) * 1000), 0)::float8 as rp99
       from telemetry where device_id like 'B-%'`,
  );
  const r = rows[0]!;
  const sorted = Float64Array.from(latencies).sort();
  const seconds = Math.max(0.001, (stats.lastCommitAt - pub.firstPublishAt) / 1000);
  return {
    sent: pub.sent,
    published: pub.published,
    failed: pub.failed,
    stored: r.stored,
    distinct: r.distinct,
    duplicates: r.stored - r.distinct,
    loss: pub.published - r.distinct,
    msgPerSec: r.stored / seconds,
    publishRate: pub.published / Math.max(0.001, (pub.lastPublishAt - pub.firstPublishAt) / 1000),
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1]! : 0,
    receiveP50Ms: round(r.rp50, 1),
    receiveP99Ms: round(r.rp99, 1),
    commits: stats.commits,
    avgBatch: round(r.stored / Math.max(1, stats.commits), 1),
    drainSeconds: round((Math.max(stats.lastCommitAt, pub.lastPublishAt) - pub.lastPublishAt) / 1000, 1),
    peakRssBytes: rss.peak,
    publisherPeakRssBytes: pub.peakRssBytes,
  };
}

// --- main ----------------------------------------------------------------------------------------

interface Options {
  devices: number;
  durationS: number;
  qos: 0 | 1;
  window: number;
  maxBatch: number;
  rawMessages: number;
  dbRows: number;
  mosquitto: boolean;
  skipBaselines: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      devices: { type: 'string', default: '1000' },
      duration: { type: 'string', default: '20' },
      qos: { type: 'string', default: '1' },
      window: { type: 'string', default: '4' },
      'max-batch': { type: 'string', default: String(DEFAULT_MAX_BATCH) },
      'raw-messages': { type: 'string', default: '100000' },
      'db-rows': { type: 'string', default: '100000' },
      mosquitto: { type: 'boolean', default: false },
      'skip-baselines': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const o: Options = {
    devices: Number(values.devices),
    durationS: Number(values.duration),
    qos: Number(values.qos) as 0 | 1,
    window: Number(values.window),
    maxBatch: Number(values['max-batch']),
    rawMessages: Number(values['raw-messages']),
    dbRows: Number(values['db-rows']),
    mosquitto: values.mosquitto,
    skipBaselines: values['skip-baselines'],
  };
  const positiveInt = (n: number) => Number.isInteger(n) && n > 0;
  const bad =
    !positiveInt(o.devices) ||
    o.devices > 999_999 ||
    !(o.durationS > 0) ||
    (o.qos !== 0 && o.qos !== 1) ||
    !positiveInt(o.window) ||
    !positiveInt(o.maxBatch) ||
    !positiveInt(o.rawMessages) ||
    !positiveInt(o.dbRows);
  if (values.help || bad) {
    (values.help ? process.stdout : process.stderr).write(USAGE);
    process.exit(values.help ? 0 : 2);
  }
  return o;
}

async function main(): Promise<void> {
  const o = parseOptions();
  const broker = await openBroker({ mosquitto: o.mosquitto });
  const dbName = process.env.DATABASE_URL ? 'postgres' : 'pglite';
  const brokerName = o.mosquitto ? 'mosquitto-own' : process.env.MQTT_URL ? 'mosquitto' : 'aedes';
  const engine = `${brokerName}+${dbName}`;
  log(`ingest bench: ${engine} — broker ${broker.name}`);
  let database: Awaited<ReturnType<typeof openBenchDatabase>> | null = null;
  try {
    database = await openBenchDatabase();
    log(`database: ${database.name}`);
    let rawA: RawBrokerResult | null = null;
    let rawB: RawDbResult | null = null;
    if (!o.skipBaselines) {
      log(`baseline A: ${o.rawMessages} messages broker → plain mqtt.js subscriber, QoS ${o.qos}`);
      rawA = await rawBroker(broker, o);
      log(`  ${Math.round(rawA.msgPerSec)} msg/s, ${rawA.received}/${rawA.published} received`);
      log(`baseline B: ${o.dbRows} rows via writeBatch, batches of 5000`);
      rawB = await rawDatabase(database.db, o);
      log(`  ${Math.round(rawB.rowsPerSec)} rows/s`);
    }
    log(
      `ingest: ${o.devices} devices, ${o.durationS} s, QoS ${o.qos}, window ${o.window}, batches ≤ ${o.maxBatch}`,
    );
    const r = await ingestRun(broker, database.db, o);

    const rows: [string, string][] = [
      ['engine', `${engine} (${broker.name}; ${database.name})`],
      ['devices / QoS / window', `${o.devices} / ${o.qos} / ${o.window}`],
      ['ingest batch cap', `${o.maxBatch} reports per transaction`],
      [
        'A raw broker→subscriber',
        rawA
          ? `${Math.round(rawA.msgPerSec)} msg/s (${rawA.received}/${rawA.published} received, publishers ${Math.round(rawA.publishRate)} msg/s)`
          : 'skipped',
      ],
      [
        'B raw database insert',
        rawB ? `${Math.round(rawB.rowsPerSec)} rows/s (${rawB.rows} rows)` : 'skipped',
      ],
      [
        'publishers',
        `${r.published} acked of ${r.sent} sent, ${r.failed} failed, ${Math.round(r.publishRate)} msg/s`,
      ],
      ['ingest committed', `${Math.round(r.msgPerSec)} msg/s sustained (first publish → last commit)`],
      ['stored', `${r.stored} rows, ${r.distinct} distinct, duplicates ${r.duplicates}, loss ${r.loss}`],
      ['publish→commit', `p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, max ${r.maxMs} ms`],
      ['publish→receipt (db)', `p50 ${r.receiveP50Ms} ms, p99 ${r.receiveP99Ms} ms`],
      ['commits', `${r.commits}, avg ${r.avgBatch} rows, drain after last publish ${r.drainSeconds} s`],
      [
        'ratio to A / to B',
        `${rawA ? round(r.msgPerSec / rawA.msgPerSec, 2) : '-'} / ${rawB ? round(r.msgPerSec / rawB.rowsPerSec, 2) : '-'}`,
      ],
      [
        'peak RSS',
        `${mb(r.peakRssBytes)} MiB bench process (${broker.shared ? '' : 'aedes + '}ingest${dbName === 'pglite' ? ' + PGlite' : ''}), ${mb(r.publisherPeakRssBytes)} MiB publisher child`,
      ],
    ];
    const width = Math.max(...rows.map(([k]) => k.length));
    process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
    process.stdout.write(
      `${JSON.stringify({
        engine,
        devices: o.devices,
        qos: o.qos,
        durationS: o.durationS,
        window: o.window,
        maxBatch: o.maxBatch,
        msgPerSec: Math.round(r.msgPerSec),
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        maxMs: r.maxMs,
        receiveP50Ms: r.receiveP50Ms,
        receiveP99Ms: r.receiveP99Ms,
        sent: r.sent,
        published: r.published,
        stored: r.stored,
        distinct: r.distinct,
        duplicates: r.duplicates,
        loss: r.loss,
        publishRate: Math.round(r.publishRate),
        commits: r.commits,
        avgBatch: r.avgBatch,
        rawBrokerMsgPerSec: rawA ? Math.round(rawA.msgPerSec) : null,
        rawBrokerReceived: rawA?.received ?? null,
        rawBrokerPublished: rawA?.published ?? null,
        rawDbRowsPerSec: rawB ? Math.round(rawB.rowsPerSec) : null,
        ratioToBroker: rawA ? round(r.msgPerSec / rawA.msgPerSec, 3) : null,
        ratioToDb: rawB ? round(r.msgPerSec / rawB.rowsPerSec, 3) : null,
        peakRssMiB: mb(r.peakRssBytes),
        publisherPeakRssMiB: mb(r.publisherPeakRssBytes),
      })}\n`,
    );
  } finally {
    await database?.close();
    await broker.close();
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`bench:ingest: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
