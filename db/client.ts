/**
 * One small interface over the two engines: PGlite (embedded, in process, persisted under DATA_DIR)
 * and PostgreSQL/TimescaleDB (node-postgres pool). Everything above this file speaks plain SQL with
 * $1 parameters and arrays, which both engines accept the same way.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { type Listener, openListener } from './listener.ts';

export interface Sql {
  query<Row = Record<string, unknown>>(text: string, params?: unknown[]): Promise<{ rows: Row[] }>;
  /** Several statements in one string, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export interface Database extends Sql {
  readonly engine: 'pglite' | 'postgres';
  /** Runs fn in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: hears the NOTIFYs on `channel` that any process commits (db/listener.ts).
   * Absent on the embedded engine, where the only process is this one.
   */
  listen?: Listener['listen'];
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres:// URL; when absent the embedded engine is used. */
  url?: string | undefined;
  /** Where the embedded engine keeps its files; absent = in memory (tests). */
  dataDir?: string | undefined;
  /** Extra PGlite extensions, e.g. the timescaledb build used by the storage tests. */
  pgliteFactory?: (dataDir: string | undefined) => Promise<PGlite>;
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.url ? openPostgres(options.url) : openPglite(options);
}

// Timestamps are returned as Date, bigint money columns as JS numbers: amounts in fen stay far
// below 2^53, and a string in every money field would leak into every caller.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

async function openPostgres(url: string): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10, application_name: 'recovery-telematics' });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on('error', () => {});
  await pool.query('select 1');
  // Opens its connection at the first listen(), so a process that never listens holds none.
  const listener = openListener(url);
  return {
    engine: 'postgres',
    listen: (channel, handler) => listener.listen(channel, handler),
    query: (text, params) => pool.query(text, params as unknown[]) as never,
    async transaction(fn) {
      const client = await pool.connect();
      // The pool listens for errors only on idle clients. A connection that ends while this one is
      // checked out (the server restarted, the session ended by a timeout or an operator) would
      // otherwise raise an unhandled error event and end the process; caught here, it fails this
      // transaction's next query instead, and the client is thrown away rather than pooled again.
      let lost: Error | undefined;
      const onError = (e: Error) => {
        lost = e;
      };
      client.on('error', onError);
      try {
        await client.query('begin');
        const result = await fn({
          query: (text, params) => client.query(text, params as unknown[]) as never,
          exec: async (sql) => {
            await client.query(sql);
          },
        });
        await client.query('commit');
        return result;
      } catch (e) {
        await client.query('rollback').catch(() => {});
        throw e;
      } finally {
        client.off('error', onError);
        client.release(lost);
      }
    },
    async exec(sql) {
      await pool.query(sql);
    },
    async close() {
      await listener.close();
      await pool.end();
    },
  };
}

async function openPglite(options: DatabaseOptions): Promise<Database> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = options.pgliteFactory
    ? await options.pgliteFactory(options.dataDir)
    : await PGlite.create(options.dataDir ? { dataDir: options.dataDir } : {});
  // PGlite is a single connection; its transaction() holds an internal mutex, so a query issued
  // outside a transaction waits instead of interleaving with one inside it.
  return {
    engine: 'pglite',
    query: (text, params) => db.query(text, params) as never,
    transaction: (fn) =>
      db.transaction((tx) =>
        fn({
          query: (text, params) => tx.query(text, params) as never,
          exec: async (sql) => {
            await tx.exec(sql);
          },
        }),
      ),
    async exec(sql) {
      await db.exec(sql);
    },
    close: () => db.close(),
  };
}
