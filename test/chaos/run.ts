/**
 * The chaos run: the local cluster (2 api nodes, 2 ingest workers, HAProxy; deploy/cluster/start.ts)
 * on a private PostgreSQL and a private Mosquitto, Redis shared under a random key prefix, a
 * simulated fleet publishing at a fixed rate, GPS-stop commands requested and approved through the
 * load balancer, live sockets watching the map — and, while it runs, an ingest worker and an api
 * node killed with SIGKILL, Mosquitto restarted and PostgreSQL restarted. Then it counts what was
 * lost.
 *
 *   npm run chaos -- --rate 200 --duration 60
 *
 * The last line of output is one JSON object:
 *   {"rate","durationS","published","stored","lost","duplicates","faults":[{"kind","at","recoverySeconds"}],
 *    "liveGapMaxSeconds","commandsLost", …details}
 * - published: telemetry reports the broker acknowledged (QoS 1 PUBACK);
 * - stored: distinct (device, seq) of the fleet in the database;
 * - lost: acknowledged reports not in the database; duplicates: rows beyond the first of a report
 *   (test/chaos/ledger.ts);
 * - faults: when each fault began (seconds from the first report) and how long until the platform
 *   had recovered (the definition per kind is in test/chaos/faults.ts);
 * - liveGapMaxSeconds: the longest time, from the first report to the last, that a live socket
 *   received no `machines:update` — disconnected time included (test/chaos/live-watch.ts);
 * - commandsLost: approved commands no box had received once the run had drained.
 * Exit 0 when lost, duplicates and commandsLost are all 0; 1 otherwise or when the run fails; 2 for
 * a bad command line. docs/benchmarks.md, "Chaos", has the figures and how to read them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { type Database, openDatabase } from '../../db/client.ts';
import { registerKeyring } from '../../db/keys.ts';
import { migrate } from '../../db/migrate.ts';
import { type Cluster, startCluster } from '../../deploy/cluster/start.ts';
import { keyringOf, parseKek } from '../../shared/key-wrap.ts';
import { createTestUser, loginAs } from '../support/auth.ts';
import { type CommandDesk, openDesk, setUpDesk } from './command-boxes.ts';
import { FAULT_KINDS, type FaultKind, type FaultRecord, injectFault } from './faults.ts';
import { FLEET_PREFIX, FleetChild, provisionFleet } from './fleet.ts';
import type { FleetResult } from './fleet-publisher.ts';
import { type StoredGroup, tally } from './ledger.ts';
import { type LiveWatch, watchLive } from './live-watch.ts';
import { type PrivateMosquitto, startPrivateMosquitto } from './private-mosquitto.ts';
import { type PgStopMode, type PrivatePostgres, startPrivatePostgres } from './private-postgres.ts';

const USAGE = `Usage: npm run chaos -- [options]
  --rate R            telemetry reports per second, all devices together (default 200)
  --duration S        seconds of publishing; the faults fall inside (default 60)
  --devices N         fleet devices, each reporting rate / N times a second (default rate / 2: 2 reports/s each)
  --command-boxes B   boxes with the reference firmware taking GPS-stop commands (default 6)
  --command-every S   seconds between two commands requested and approved (default 2)
  --live-sockets L    live map sockets through the load balancer (default 2)
  --faults LIST       which faults, comma separated (default all: ingest-kill,api-kill,mosquitto-restart,postgres-restart)
  --pg-stop MODE      how PostgreSQL is stopped for its restart: fast or immediate (default fast)
  --drain S           after the last report, at most this long for reports and commands to arrive (default 120)
  --keep              keep the temporary folders (logs of every process) after the run
  --help
Env: REDIS_URL (default redis://127.0.0.1:6379), PG_BIN (default /usr/lib/postgresql/15/bin).
The last line of output is one JSON object; exit 1 when anything was lost or duplicated.
`;

interface Options {
  rate: number;
  durationS: number;
  devices: number;
  commandBoxes: number;
  commandEveryS: number;
  liveSockets: number;
  pgStop: PgStopMode;
  faults: FaultKind[];
  drainS: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        rate: { type: 'string', default: '200' },
        duration: { type: 'string', default: '60' },
        devices: { type: 'string' },
        'command-boxes': { type: 'string', default: '6' },
        'command-every': { type: 'string', default: '2' },
        'live-sockets': { type: 'string', default: '2' },
        'pg-stop': { type: 'string', default: 'fast' },
        faults: { type: 'string', default: FAULT_KINDS.join(',') },
        drain: { type: 'string', default: '120' },
        keep: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (e) {
    return (e as Error).message;
  }
  if (values.help) return 'help';
  const rate = Number(values.rate);
  const o: Options = {
    rate,
    durationS: Number(values.duration),
    devices: values.devices === undefined ? Math.max(1, Math.ceil(rate / 2)) : Number(values.devices),
    commandBoxes: Number(values['command-boxes']),
    commandEveryS: Number(values['command-every']),
    liveSockets: Number(values['live-sockets']),
    pgStop: values['pg-stop'] as PgStopMode,
    faults: String(values.faults)
      .split(',')
      .map((f) => f.trim())
      .filter(Boolean) as FaultKind[],
    drainS: Number(values.drain),
    keep: values.keep === true,
  };
  const whole = (n: number, min: number) => Number.isInteger(n) && n >= min;
  if (!(o.rate > 0) || o.rate > 100_000)
    return '--rate must be a number of reports per second, above 0 and at most 100000';
  if (!whole(o.durationS, 20))
    return '--duration must be whole seconds, at least 20 (four faults fall inside)';
  if (!whole(o.devices, 1) || o.devices > 100_000) return '--devices must be a whole number from 1 to 100000';
  if (!whole(o.commandBoxes, 0) || o.commandBoxes > 1000) return '--command-boxes must be 0 to 1000';
  if (!(o.commandEveryS > 0)) return '--command-every must be seconds above 0';
  if (!whole(o.liveSockets, 1) || o.liveSockets > 100) return '--live-sockets must be 1 to 100';
  if (o.pgStop !== 'fast' && o.pgStop !== 'immediate') return '--pg-stop must be fast or immediate';
  const unknown = o.faults.filter((f) => !(FAULT_KINDS as readonly string[]).includes(f));
  if (unknown.length > 0)
    return `--faults: unknown ${unknown.join(', ')}; the faults are ${FAULT_KINDS.join(', ')}`;
  if (!whole(o.drainS, 1)) return '--drain must be whole seconds, at least 1';
  return o;
}

const log = (line: string) => process.stderr.write(`chaos: ${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** When each fault falls, as a fraction of the publishing time: spread out, none at the edges. */
const FAULT_AT: Record<FaultKind, number> = {
  'ingest-kill': 0.2,
  'api-kill': 0.4,
  'mosquitto-restart': 0.6,
  'postgres-restart': 0.8,
};

/** Stored rows of the fleet grouped by report, streamed in pages so a large run stays in bounds. */
async function storedGroups(db: Database): Promise<StoredGroup[]> {
  const out: StoredGroup[] = [];
  const { rows } = await db.query<{ device_id: string; seq: number; copies: number }>(
    `select device_id, seq, count(*)::int as copies from telemetry
      where device_id like $1 group by device_id, seq`,
    [`${FLEET_PREFIX}%`],
  );
  for (const r of rows) out.push({ deviceId: r.device_id, seq: r.seq, copies: r.copies });
  return out;
}

async function fleetRows(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'select count(*)::int as n from telemetry where device_id like $1',
    [`${FLEET_PREFIX}%`],
  );
  return rows[0]!.n;
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv);
  if (parsed === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`chaos: ${parsed}\n${USAGE}`);
    return 2;
  }
  const o = parsed;
  const work = mkdtempSync(join(tmpdir(), 'chaos-run-'));
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const redisKeyPrefix = `chaos-${randomBytes(6).toString('hex')}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  let failed = true;
  try {
    log(`private PostgreSQL and Mosquitto…`);
    const postgres: PrivatePostgres = await startPrivatePostgres();
    cleanups.push(() => postgres.stop());
    const mosquitto: PrivateMosquitto = await startPrivateMosquitto();
    cleanups.push(() => mosquitto.stop());
    const databaseUrl = postgres.url.replace(/\/postgres$/, '/telematics');
    const admin = new pg.Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('create database telematics');
    await admin.end();
    const db = await openDatabase({ url: databaseUrl });
    cleanups.push(() => db.close());
    await migrate(db);

    log(
      `cluster (2 api, 2 ingest, HAProxy) on ${databaseUrl}, ${mosquitto.url}, ${redisUrl} prefix ${redisKeyPrefix}…`,
    );
    const cluster: Cluster = await startCluster({
      databaseUrl,
      mqttUrl: mosquitto.url,
      redisUrl,
      redisKeyPrefix,
      env: { LOG_LEVEL: 'info' },
      logDir: join(work, 'logs'),
    });
    cleanups.push(() => cluster.stop());
    cleanups.push(() => forgetRedisKeys(redisUrl, redisKeyPrefix));
    await cluster.waitHealthy(120_000);
    registerKeyring(db, keyringOf(parseKek(cluster.secrets.KEY_ENCRYPTION_KEY)!));

    log(`${o.devices} fleet devices, ${o.commandBoxes} command boxes…`);
    const fleetDevices = await provisionFleet(db, o.devices);
    const deskSetup = await setUpDesk(db, o.commandBoxes);
    const viewer = await createTestUser(db, 'collector', { username: 'chaos-viewer' });
    const viewerToken = (await loginAs(cluster.url, viewer.username, viewer.password)).token;

    const live: LiveWatch[] = [];
    cleanups.push(async () => {
      for (const w of live) w.close();
    });
    for (let i = 0; i < o.liveSockets; i++) live.push(await watchLive(cluster.url, viewerToken));
    let desk: CommandDesk | null = null;
    if (o.commandBoxes > 0) {
      desk = await openDesk(cluster.url, mosquitto.url, deskSetup);
      const d = desk;
      cleanups.push(() => d.stop());
    }

    const fleet = new FleetChild();
    cleanups.push(() => fleet.exit());
    const connectSeconds = await fleet.connect({
      mqttUrl: mosquitto.url,
      devices: fleetDevices,
      rate: o.rate,
      durationS: o.durationS,
      settleS: o.drainS,
    });
    log(`${o.devices} fleet connections up in ${connectSeconds.toFixed(1)} s`);

    // The stored reports of a fixed sample of devices: cheap to count often (the unique index).
    const sample = fleetDevices.slice(0, 20).map((d) => d.deviceId);
    const probe = new pg.Pool({ connectionString: databaseUrl, max: 2, connectionTimeoutMillis: 2000 });
    probe.on('error', () => {});
    cleanups.push(() => probe.end());
    const storedSample = async () => {
      try {
        const { rows } = await probe.query<{ n: number }>(
          'select count(*)::int as n from telemetry where device_id = any($1::text[])',
          [sample],
        );
        return rows[0]!.n;
      } catch {
        return null;
      }
    };

    // --- the run ---------------------------------------------------------------------------------
    const runStartedAt = Date.now();
    for (const w of live) w.tracker.open(runStartedAt);
    let progress = { sent: 0, published: 0, connected: 0 };
    const running = fleet.run((p) => {
      progress = p;
    });
    const faults: Promise<FaultRecord>[] = o.faults.map(async (kind) => {
      await sleep(FAULT_AT[kind] * o.durationS * 1000);
      log(`fault: ${kind} at ${round((Date.now() - runStartedAt) / 1000)} s`);
      const record = await injectFault(kind, {
        cluster,
        mosquitto,
        postgres,
        pgStopMode: o.pgStop,
        storedSample,
        live,
        apiTarget: async () => apiNodeOfLiveSockets(live),
        runStartedAt,
        timeoutMs: Math.max(120_000, o.durationS * 1000),
      });
      log(`  ${kind}: recovered in ${record.recoverySeconds ?? 'never'} s ${JSON.stringify(record.detail)}`);
      return record;
    });
    let commanding = true;
    const commands = (async () => {
      if (!desk) return;
      let busy: Promise<void> | null = null;
      while (commanding) {
        busy ??= desk.turn().finally(() => {
          busy = null;
        });
        await sleep(o.commandEveryS * 1000);
      }
      await busy;
    })();
    const ticker = setInterval(() => {
      const s = Math.round((Date.now() - runStartedAt) / 1000);
      const d = desk?.stats();
      log(
        `${s} s: sent ${progress.sent}, acknowledged ${progress.published}, devices connected ${progress.connected}, ` +
          `live updates ${live.map((w) => w.stats().updates).join('/')}` +
          (d ? `, commands approved ${d.approved}, received ${d.received}` : ''),
      );
    }, 5000);
    let result: FleetResult;
    try {
      result = await running;
    } finally {
      clearInterval(ticker);
    }
    const lastDueAt = result.lastDueAt;
    const liveGaps = live.map((w) => w.tracker.close(lastDueAt));
    commanding = false;
    await commands;
    const faultRecords = await Promise.all(faults);
    log(`publishing done: ${result.published} of ${result.sent} acknowledged; draining…`);

    // --- drain: reports until the stored count stands still for 10 s, commands until all arrived --
    const drainUntil = Date.now() + o.drainS * 1000;
    // The last time the stored count was seen to grow (the first reading is not growth).
    let lastGrowthAt = result.lastDueAt;
    for (let last = -1, still = Date.now(); Date.now() < drainUntil; await sleep(1000)) {
      const n = await fleetRows(db).catch(() => -1);
      if (n !== last) {
        if (last >= 0) lastGrowthAt = Date.now();
        last = n;
        still = Date.now();
      } else if (Date.now() - still >= 10_000 && n >= 0) break;
    }
    while (desk && desk.lost().length > 0 && Date.now() < drainUntil) await sleep(500);

    // --- the count -------------------------------------------------------------------------------
    const t = tally(
      fleetDevices.map((d) => d.deviceId),
      result.acked.map((b) => new Uint8Array(Buffer.from(b, 'base64'))),
      await storedGroups(db),
      o.rate,
    );
    const commandsLost = desk ? desk.lost() : [];
    const deskStats = desk?.stats();
    const summary = {
      rate: o.rate,
      durationS: o.durationS,
      published: t.published,
      stored: t.stored,
      lost: t.lost,
      duplicates: t.duplicates,
      faults: faultRecords.map((f) => ({ kind: f.kind, at: f.at, recoverySeconds: f.recoverySeconds })),
      liveGapMaxSeconds: round(Math.max(...liveGaps) / 1000),
      commandsLost: commandsLost.length,
      devices: o.devices,
      sent: result.sent,
      // What the fleet achieved: below --rate, the publishers (their share of the CPU) could not keep up.
      publishedPerSecond: Math.round(
        result.sent / Math.max(0.001, (result.lastDueAt - result.firstDueAt) / 1000),
      ),
      // From the last report until the stored count was last seen growing (polled every second
      // once the faults' recoveries are measured; 0: ingest had caught up by then).
      drainSeconds: round(Math.max(0, lastGrowthAt - result.lastDueAt) / 1000),
      unacknowledged: result.unacknowledged,
      reconnects: result.reconnects,
      commandsApproved: deskStats?.approved ?? 0,
      commandCallsRetried: deskStats?.failedCalls ?? 0,
      liveSockets: live.map((w, i) => ({ ...w.stats(), gapMaxSeconds: round(liveGaps[i]! / 1000) })),
      faultDetails: faultRecords.map((f) => ({
        kind: f.kind,
        ...f.detail,
        lostSince: lostSince(f, faultRecords, t.lostBySecond),
      })),
      restarts: Object.fromEntries(cluster.processes.map((p) => [p.name, p.restarts])),
      ...(t.lost > 0 ? { lostSample: t.lostSample, lostBySecond: t.lostBySecond } : {}),
      lostBeforeFaults: Object.entries(t.lostBySecond)
        .filter(([second]) => Number(second) < Math.min(...faultRecords.map((f) => Math.floor(f.at) - 1)))
        .reduce((n, [, c]) => n + c, 0),
      ...(commandsLost.length > 0 ? { commandsLostIds: commandsLost } : {}),
    };
    const clean = t.lost === 0 && t.duplicates === 0 && commandsLost.length === 0;
    failed = !clean;
    if (!clean) log(`LOSS: logs of every process kept in ${work}`);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return clean ? 0 : 1;
  } finally {
    for (const c of cleanups.reverse()) await c().catch((e: Error) => log(`clean-up: ${e.message}`));
    if (!o.keep && !failed) rmSync(work, { recursive: true, force: true });
    else log(`kept ${work}`);
  }
}

/**
 * Lost reports due from this fault's start (a second early: a report due just before may still
 * have been on its way) until the next fault's, from the per-second count.
 */
function lostSince(f: FaultRecord, all: FaultRecord[], lostBySecond: Record<string, number>): number {
  const from = Math.floor(f.at) - 1;
  const next = Math.min(
    ...all.filter((g) => g.at > f.at).map((g) => Math.floor(g.at) - 1),
    Number.POSITIVE_INFINITY,
  );
  let n = 0;
  for (const [second, count] of Object.entries(lostBySecond)) {
    if (Number(second) >= from && Number(second) < next) n += count;
  }
  return n;
}

/** The api node most live sockets are on (their sticky cookie), so the kill makes them move; else api-1. */
function apiNodeOfLiveSockets(live: LiveWatch[]): string {
  const on = new Map<string, number>();
  for (const w of live) {
    const node = w.node();
    if (node) on.set(node, (on.get(node) ?? 0) + 1);
  }
  return [...on].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'api-1';
}

/** The run's keys and streams in the shared Redis: only those under its own random prefix. */
async function forgetRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`chaos: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);
