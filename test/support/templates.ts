/**
 * Migrated databases made once and copied for every test file, as PostgreSQL's `CREATE DATABASE …
 * TEMPLATE` does: a fresh embedded database costs seconds (PGlite's initdb, ten migrations, six
 * scrypt hashes for the demo sign-ins), a copy a fraction of that.
 *
 * The templates are keyed by what they are made of (the migration files, the demo users' module,
 * PGlite's version), so a changed migration makes a new one, and kept between runs: under the
 * system's temporary folder for PGlite, as `rt_tpl_<key>` databases on a PostgreSQL server. Test
 * workers that need one at the same moment build it once: the first takes a lock, the others wait.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ensureDemoUsers } from '../../api/auth/demo-users.ts';
import { openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CACHE = join(tmpdir(), 'recovery-telematics-test-templates');
const LOCK_STALE_MS = 120_000;

/** What a template is made of: a change to any of these makes a new template. */
function templateKey(): string {
  const hash = createHash('sha256');
  const migrations = join(ROOT, 'db/migrations');
  for (const f of readdirSync(migrations).sort()) hash.update(f).update(readFileSync(join(migrations, f)));
  hash.update(readFileSync(join(ROOT, 'api/auth/demo-users.ts')));
  // PGlite's own version: a new one may not read an older one's files.
  const pglite = join(ROOT, 'node_modules/@electric-sql/pglite/package.json');
  hash.update(existsSync(pglite) ? readFileSync(pglite) : 'pglite');
  return hash.digest('hex').slice(0, 16);
}

const key = templateKey();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The path of an embedded (PGlite) data folder, migrated, with the demo sign-ins when `demoUsers`
 * (as the embedded platform makes them at its first start). Built on first use; never written to
 * afterwards: copy it (`seedEmbedded`), do not open it.
 */
export async function embeddedTemplate(demoUsers: boolean): Promise<string> {
  const target = join(CACHE, `pglite-${key}${demoUsers ? '-demo' : ''}`);
  if (existsSync(join(target, 'PG_VERSION'))) return target;
  mkdirSync(CACHE, { recursive: true });
  const lock = `${target}.lock`;
  for (;;) {
    if (existsSync(join(target, 'PG_VERSION'))) return target;
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Someone else is building it; a lock older than any build is left by a killed process.
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
      await sleep(200);
    }
  }
  try {
    if (existsSync(join(target, 'PG_VERSION'))) return target;
    const building = `${target}.build-${process.pid}-${randomBytes(4).toString('hex')}`;
    if (demoUsers) cpSync(await embeddedTemplate(false), building, { recursive: true });
    const db = await openDatabase({ dataDir: building });
    try {
      await migrate(db);
      if (demoUsers) await ensureDemoUsers(db);
    } finally {
      await db.close();
    }
    rmSync(target, { recursive: true, force: true });
    renameSync(building, target);
    return target;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** Fills `pgdata` (which must not exist yet) with a copy of the embedded template. */
export async function seedEmbedded(pgdata: string, { demoUsers = false } = {}): Promise<void> {
  cpSync(await embeddedTemplate(demoUsers), pgdata, { recursive: true });
}

/**
 * The name of a migrated template database on the PostgreSQL server of `adminUrl`, made on first
 * use. It is built under a name of its own and renamed when complete, so a database copied from it
 * is never half migrated, and nobody stays connected to it (CREATE DATABASE … TEMPLATE needs that).
 */
export async function postgresTemplate(adminUrl: string): Promise<string> {
  const name = `rt_tpl_${key}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = async () =>
      (await admin.query('select 1 from pg_database where datname = $1', [name])).rows.length > 0;
    if (await exists()) return name;
    const building = `rt_tpl_build_${randomBytes(6).toString('hex')}`;
    await admin.query(`create database ${building}`);
    try {
      const url = new URL(adminUrl);
      url.pathname = `/${building}`;
      const db = await openDatabase({ url: url.toString() });
      try {
        await migrate(db);
      } finally {
        await db.close();
      }
      if (!(await exists())) await admin.query(`alter database ${building} rename to ${name}`);
    } catch (e) {
      // Another worker renamed its copy first: theirs is as good as ours.
      if (!(await exists())) throw e;
    } finally {
      await admin.query(`drop database if exists ${building} with (force)`);
    }
    return name;
  } finally {
    await admin.end();
  }
}
