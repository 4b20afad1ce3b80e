/**
 * The engines a test runs against: embedded (aedes + PGlite) by default, the real ones when
 * MQTT_URL / DATABASE_URL are set. A test file gets a scratch database of its own, already migrated
 * (a copy of the run's template, test/support/templates.ts) unless it asks for an empty one: on
 * PostgreSQL a database created from DATABASE_URL and dropped afterwards, embedded a PGlite data
 * folder of its own, removed afterwards. Runs and files never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { type Database, openDatabase } from '../../db/client.ts';
import { loadOrCreateKek, registerKeyring } from '../../db/keys.ts';
import { keyringOf, parseKek } from '../../shared/key-wrap.ts';
import { postgresTemplate, seedEmbedded } from './templates.ts';

export const realBroker = process.env.MQTT_URL || undefined;
export const realDatabase = process.env.DATABASE_URL || undefined;
export const engineName = `${realBroker ? 'mosquitto' : 'aedes'}+${realDatabase ? 'postgres' : 'pglite'}`;

/** A KEY_ENCRYPTION_KEY for platforms started by tests on PostgreSQL, where one must be configured. */
export const TEST_KEY_ENCRYPTION_KEY = '4JD5JO+MDDjr/Zw1s0an/urpRCqfeC06092nUYvr34U=';

export interface ScratchDatabase {
  /** The PostgreSQL database's URL; undefined when embedded. */
  url: string | undefined;
  /**
   * Opens it. Embedded, the data lives in a folder of its own (the first open fills it), so it can
   * be closed and opened again, and `dataDir` is the folder the embedded platform is given. Opened
   * with the key-encryption key a platform on it uses (db/keys.ts), so provisioning works on it.
   */
  open(): Promise<Database>;
  /** Embedded: a DATA_DIR whose pgdata holds this database (for startPlatform or a CLI); else undefined. */
  dataDir: string | undefined;
  drop(): Promise<void>;
}

export interface ScratchOptions {
  /** Start empty, without the migrations (tests of the migrations themselves). Default false. */
  empty?: boolean;
  /** Embedded only: with the demo sign-ins, as the embedded platform makes them. Default false. */
  demoUsers?: boolean;
}

export async function scratchDatabase({
  empty = false,
  demoUsers = false,
}: ScratchOptions = {}): Promise<ScratchDatabase> {
  if (!realDatabase) {
    const dataDir = mkdtempSync(join(tmpdir(), 'rt-db-'));
    const pgdata = join(dataDir, 'pgdata');
    if (!empty) await seedEmbedded(pgdata, { demoUsers });
    return {
      url: undefined,
      dataDir,
      async open() {
        const db = await openDatabase({ dataDir: pgdata });
        registerKeyring(db, keyringOf(loadOrCreateKek(dataDir)));
        return db;
      },
      async drop() {
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  const name = `rt_test_${randomBytes(6).toString('hex')}`;
  const template = empty ? null : await postgresTemplate(realDatabase);
  const admin = new pg.Client({ connectionString: realDatabase });
  await admin.connect();
  await admin.query(`create database ${name}${template ? ` template ${template}` : ''}`);
  await admin.end();
  const url = new URL(realDatabase);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir: undefined,
    async open() {
      const db = await openDatabase({ url: url.toString() });
      registerKeyring(db, keyringOf(parseKek(TEST_KEY_ENCRYPTION_KEY)!));
      return db;
    },
    async drop() {
      const c = new pg.Client({ connectionString: realDatabase });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
