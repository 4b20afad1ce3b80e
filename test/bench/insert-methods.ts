/**
 * How to put a batch of telemetry rows into PostgreSQL: the `INSERT … SELECT unnest(…) ON CONFLICT
 * DO NOTHING` that ingest uses (ingest/store.ts), against COPY (text or binary) into a temporary
 * staging table followed by `INSERT … SELECT … ON CONFLICT DO NOTHING` (COPY alone cannot skip the
 * redeliveries the unique key absorbs). One transaction per batch, one connection, as ingest does.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx test/bench/insert-methods.ts
 *   … --sizes 500,2000,5000 --rows 100000 --rounds 3
 *
 * Runs in a scratch database (created from DATABASE_URL, migrated, dropped afterwards). Each method
 * writes the same rows (1 % of each batch redelivered from the one before) into an emptied
 * telemetry table; the table contents are compared across methods, so a method that stores
 * something else fails the run. Prints a table and one JSON line.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import binary, { type BinaryField } from 'pg-copy-streams-binary';
import { openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import type { TelemetryRow } from '../../ingest/store.ts';
import { KNOWN_ALARMS } from '../../shared/protocol.ts';
import { scratchDatabase } from '../support/engines.ts';

const COLUMNS =
  'device_id, ts, seq, received_at, lat, lon, alt, spd, hdg, sat, fix, ign, hrs, pwr, bat, rssi, rly, alm';
const iso = (ms: number) => new Date(ms).toISOString();
const alarms = (r: TelemetryRow) => (r.report.alm && r.report.alm.length > 0 ? r.report.alm : null);
const rssi = (r: TelemetryRow) => (r.report.rssi === undefined ? null : Math.round(r.report.rssi));

type Method = (client: pg.Client, rows: TelemetryRow[]) => Promise<void>;

/** ingest/store.ts's telemetry statement, unchanged. */
const unnest: Method = async (client, rows) => {
  const col = <K extends keyof TelemetryRow['report']>(k: K) => rows.map((r) => r.report[k] ?? null);
  await client.query(
    `insert into telemetry (${COLUMNS})
     select d, t, s, r, la, lo, al, sp, hd, sa, fx, ig, hr, pw, ba, rs, rl, string_to_array(am, ',')
     from unnest($1::text[], $2::timestamptz[], $3::int[], $4::timestamptz[], $5::float8[], $6::float8[],
                 $7::real[], $8::real[], $9::real[], $10::smallint[], $11::bool[], $12::bool[], $13::float8[],
                 $14::real[], $15::real[], $16::smallint[], $17::bool[], $18::text[])
          as u(d, t, s, r, la, lo, al, sp, hd, sa, fx, ig, hr, pw, ba, rs, rl, am)
     on conflict do nothing`,
    [
      rows.map((r) => r.deviceId),
      rows.map((r) => iso(r.report.ts)),
      col('seq'),
      rows.map((r) => iso(r.receivedAt)),
      col('lat'),
      col('lon'),
      col('alt'),
      col('spd'),
      col('hdg'),
      col('sat'),
      col('fix'),
      col('ign'),
      col('hrs'),
      col('pwr'),
      col('bat'),
      rows.map(rssi),
      col('rly'),
      rows.map((r) => alarms(r)?.join(',') ?? null),
    ],
  );
};

// Per connection, once: rows vanish at each commit, so a batch never sees the one before.
const STAGING = 'create temporary table telemetry_staging (like telemetry) on commit delete rows';
const FROM_STAGING = `insert into telemetry (${COLUMNS}) select ${COLUMNS} from telemetry_staging on conflict do nothing`;

/** COPY text format: tab-separated, \N for null; alarm names are [A-Za-z0-9_], so `{a,b}` needs no quoting. */
const copyText: Method = async (client, rows) => {
  const v = (x: string | number | boolean | null | undefined) =>
    x === null || x === undefined ? '\\N' : typeof x === 'boolean' ? (x ? 't' : 'f') : String(x);
  const lines = rows.map((r) => {
    const t = r.report;
    const alm = alarms(r);
    return [
      r.deviceId.replace(
        /[\\\t\n\r]/g,
        (c) => `\\${c === '\t' ? 't' : c === '\n' ? 'n' : c === '\r' ? 'r' : '\\'}`,
      ),
      iso(t.ts),
      v(t.seq),
      iso(r.receivedAt),
      v(t.lat),
      v(t.lon),
      v(t.alt),
      v(t.spd),
      v(t.hdg),
      v(t.sat),
      v(t.fix),
      v(t.ign),
      v(t.hrs),
      v(t.pwr),
      v(t.bat),
      v(rssi(r)),
      v(t.rly),
      alm ? `{${alm.join(',')}}` : '\\N',
    ].join('\t');
  });
  const sink = client.query(copyStreams.from(`copy telemetry_staging (${COLUMNS}) from stdin`));
  await pipeline(Readable.from([`${lines.join('\n')}\n`]), sink);
  await client.query(FROM_STAGING);
};

/** COPY binary format, encoded by pg-copy-streams-binary's rowWriter. */
const copyBinary: Method = async (client, rows) => {
  const f = (type: string, value: unknown): BinaryField => ({ type, value: value ?? null });
  const fields = rows.map((r) => {
    const t = r.report;
    return [
      f('text', r.deviceId),
      f('timestamptz', new Date(t.ts)),
      f('int4', t.seq),
      f('timestamptz', new Date(r.receivedAt)),
      f('float8', t.lat),
      f('float8', t.lon),
      f('float4', t.alt),
      f('float4', t.spd),
      f('float4', t.hdg),
      f('int2', t.sat),
      f('bool', t.fix),
      f('bool', t.ign),
      f('float8', t.hrs),
      f('float4', t.pwr),
      f('float4', t.bat),
      f('int2', rssi(r)),
      f('bool', t.rly),
      f('_text', alarms(r)),
    ];
  });
  const sink = client.query(
    copyStreams.from(`copy telemetry_staging (${COLUMNS}) from stdin (format binary)`),
  );
  await pipeline(Readable.from(fields), binary.rowWriter(), sink);
  await client.query(FROM_STAGING);
};

const METHODS: Record<string, Method> = { unnest, copyText, copyBinary };

/** A believable fleet's reports: 1,000 machines, some without seq, fix, hours or alarms. */
function makeRows(count: number, batch: number): TelemetryRow[][] {
  const start = Date.UTC(2026, 10, 1);
  const batches: TelemetryRow[][] = [];
  let made = 0;
  let previous: TelemetryRow[] = [];
  while (made < count) {
    const rows: TelemetryRow[] = previous.filter((_, i) => i % 100 === 0); // 1 % redelivered
    while (rows.length < batch && made < count) {
      const i = made++;
      const ts = start + Math.floor(i / 1000) * 30_000 + (i % 1000);
      rows.push({
        deviceId: `EX-${String(i % 1000).padStart(6, '0')}`,
        receivedAt: ts + 800,
        report: {
          v: 1,
          ts,
          ...(i % 50 === 0 ? {} : { seq: Math.floor(i / 1000) }),
          lat: 30 + (i % 997) / 1000 + i * 1e-9,
          lon: 120 + (i % 991) / 1000,
          alt: 12.5 + (i % 40),
          spd: (i % 60) * 0.7,
          hdg: (i * 7) % 360,
          sat: 4 + (i % 9),
          fix: i % 37 !== 0,
          ign: i % 3 !== 0,
          ...(i % 10 === 0 ? {} : { hrs: 1000 + i / 120 }),
          pwr: 24.1 + (i % 10) / 10,
          bat: 4.05,
          rssi: -60 - (i % 30),
          rly: false,
          ...(i % 250 === 0 ? { alm: [KNOWN_ALARMS[i % KNOWN_ALARMS.length] ?? 'sos', 'tamper'] } : {}),
        },
      });
    }
    batches.push(rows);
    previous = rows;
  }
  return batches;
}

const CONTENT = `select count(*)::int as n, md5(string_agg(t::text, '|' order by device_id, ts, seq nulls first)) as digest
  from (select ${COLUMNS} from telemetry) t`;

async function measure(client: pg.Client, method: Method, batches: TelemetryRow[][]) {
  await client.query('truncate telemetry');
  await client.query('checkpoint'); // start each run with no dirty pages from the last one
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (const rows of batches) {
    await client.query('begin');
    try {
      await method(client, rows);
      await client.query('commit');
    } catch (e) {
      await client.query('rollback');
      throw e;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const { rows } = await client.query<{ n: number; digest: string }>(CONTENT);
  return { seconds, cpuUs: cpu.user + cpu.system, stored: rows[0]?.n ?? 0, digest: rows[0]?.digest ?? '' };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '500,2000,5000' },
      rows: { type: 'string', default: '100000' },
      rounds: { type: 'string', default: '3' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(
      'DATABASE_URL=postgres://… npx tsx test/bench/insert-methods.ts [--sizes 500,2000,5000] [--rows 100000] [--rounds 3]\n',
    );
    return;
  }
  if (!process.env.DATABASE_URL) {
    process.stderr.write('DATABASE_URL is required: COPY is measured on a real PostgreSQL\n');
    process.exit(2);
  }
  const sizes = values.sizes.split(',').map(Number);
  const total = Number(values.rows);
  const rounds = Number(values.rounds);
  if (sizes.some((s) => !Number.isInteger(s) || s < 1) || !(total > 0) || !(rounds > 0)) {
    process.stderr.write('--sizes: positive whole numbers; --rows and --rounds: positive\n');
    process.exit(2);
  }

  const scratch = await scratchDatabase();
  const db = await openDatabase({ url: scratch.url });
  await migrate(db);
  await db.close();
  const client = new pg.Client({ connectionString: scratch.url });
  await client.connect();
  try {
    const { rows: v } = await client.query<{ server_version: string }>('show server_version');
    const { rows: ts } = await client.query<{ on: boolean }>('select telemetry_on_timescaledb() as on');
    const database = `PostgreSQL ${v[0]?.server_version}${ts[0]?.on ? ' + TimescaleDB hypertable' : ', plain table'}`;
    await client.query(STAGING);
    const results = [];
    for (const size of sizes) {
      const batches = makeRows(total, size);
      const written = batches.reduce((n, b) => n + b.length, 0);
      const rates: Record<string, number[]> = Object.fromEntries(Object.keys(METHODS).map((m) => [m, []]));
      // Client CPU per row (this process: building parameters or encoding COPY data, pg protocol).
      // Ingest is one thread, so this is what a method costs the worker whatever the database does.
      const cpu: Record<string, number[]> = Object.fromEntries(Object.keys(METHODS).map((m) => [m, []]));
      const digests = new Set<string>();
      for (let round = 0; round < rounds; round++) {
        // Rotate the order each round, so no method always runs first (or last) on a warm cache.
        const names = Object.keys(METHODS);
        const order = [...names.slice(round % names.length), ...names.slice(0, round % names.length)];
        for (const name of order) {
          const r = await measure(client, METHODS[name] as Method, batches);
          if (r.stored !== total) throw new Error(`${name}: stored ${r.stored} rows of ${total}`);
          digests.add(r.digest);
          rates[name]?.push(total / r.seconds);
          cpu[name]?.push(r.cpuUs / written);
        }
      }
      if (digests.size !== 1) throw new Error(`batch ${size}: the methods stored different contents`);
      const unnestRate = median(rates.unnest ?? []);
      const row = {
        batch: size,
        batches: batches.length,
        rowsWritten: written,
        unnest: Math.round(unnestRate),
        copyText: Math.round(median(rates.copyText ?? [])),
        copyBinary: Math.round(median(rates.copyBinary ?? [])),
        ratioCopyText: Number((median(rates.copyText ?? []) / unnestRate).toFixed(2)),
        ratioCopyBinary: Number((median(rates.copyBinary ?? []) / unnestRate).toFixed(2)),
        clientCpuUsPerRow: Object.fromEntries(
          Object.entries(cpu).map(([k, xs]) => [k, Number(median(xs).toFixed(2))]),
        ),
        spread: Object.fromEntries(
          Object.entries(rates).map(([k, xs]) => [
            k,
            [Math.round(Math.min(...xs)), Math.round(Math.max(...xs))],
          ]),
        ),
      };
      results.push(row);
    }
    const pad = (s: string | number, n: number) => String(s).padStart(n);
    const lines = [
      `database  ${database}; ${total} distinct rows per run (+1 % redelivered), median of ${rounds} rounds`,
      `${pad('batch', 6)} ${pad('unnest rows/s', 14)} ${pad('COPY text', 10)} ${pad('COPY binary', 12)} ${pad('text/unnest', 12)} ${pad('binary/unnest', 14)}   client CPU µs/row unnest/text/binary`,
      ...results.map(
        (r) =>
          `${pad(r.batch, 6)} ${pad(r.unnest, 14)} ${pad(r.copyText, 10)} ${pad(r.copyBinary, 12)} ${pad(r.ratioCopyText, 12)} ${pad(r.ratioCopyBinary, 14)}   ${Object.values(r.clientCpuUsPerRow).join(' / ')}`,
      ),
    ];
    process.stdout.write(
      `${lines.join('\n')}\n${JSON.stringify({ database, rows: total, rounds, results })}\n`,
    );
  } finally {
    await client.end();
    await scratch.drop();
  }
}

await main();
