/**
 * Applies db/migrations/*.sql in name order, each once, each in its own transaction, recorded in
 * schema_migrations. An advisory lock makes concurrent starts (two ingest replicas and an api)
 * safe: the second waits, then finds nothing left to do.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { type Database, openDatabase } from './client.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const LOCK_KEY = 727_001; // any constant shared by every process of this platform

export interface Migration {
  version: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3,}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: f.replace(/\.sql$/, ''), sql: readFileSync(`${dir}${f}`, 'utf8') }));
}

export async function migrate(db: Database, migrations = loadMigrations()): Promise<string[]> {
  await db.transaction(async (tx) => {
    await tx.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
    await tx.exec(`create table if not exists schema_migrations (
      version text primary key,
      applied_at timestamptz not null default now()
    )`);
  });
  const applied: string[] = [];
  for (const m of migrations) {
    const done = await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const { rows } = await tx.query('select 1 from schema_migrations where version = $1', [m.version]);
      if (rows.length > 0) return false;
      await tx.exec(m.sql);
      await tx.query('insert into schema_migrations (version) values ($1)', [m.version]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}

/**
 * Sets how long raw telemetry is kept: a job on TimescaleDB (db/migrations/004), nothing on plain
 * PostgreSQL, which keeps every row. Idempotent; returns what the database did, in words.
 */
export async function setTelemetryRetention(db: Database, days: number): Promise<string> {
  const { rows } = await db.query<{ outcome: string }>('select set_telemetry_retention($1) as outcome', [
    days,
  ]);
  return rows[0]?.outcome ?? 'retention set';
}

/**
 * The database every role of a process shares, opened (PGlite under DATA_DIR when no URL is
 * given), migrated, and with the configured telemetry retention set.
 */
export async function openMigratedDatabase(
  config: { DATABASE_URL?: string | undefined; DATA_DIR: string; TELEMETRY_RETENTION_DAYS: number },
  logger: Logger,
): Promise<Database> {
  const db = await openDatabase({ url: config.DATABASE_URL, dataDir: join(config.DATA_DIR, 'pgdata') });
  try {
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    const retention = await setTelemetryRetention(db, config.TELEMETRY_RETENTION_DAYS);
    logger.info({ retentionDays: config.TELEMETRY_RETENTION_DAYS }, retention);
    return db;
  } catch (e) {
    await db.close();
    throw e;
  }
}
