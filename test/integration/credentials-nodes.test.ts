/**
 * The broker's password file with several api nodes on one PostgreSQL: every node hears of every
 * node's credential changes (the device table's NOTIFY), their rewrites take turns under one lock
 * and read the registry in their turn, so the file ends as the registry's latest state whoever
 * writes last; a burst of changes shares rewrites; a node whose listening connection is cut
 * reconnects, listens again and rewrites once for what it may have missed.
 *
 * The nodes are platforms with ROLES=api in this process, each with its own pool and listening
 * connection, as two processes would have. Needs DATABASE_URL: the embedded PGlite is one process,
 * where the in-process listeners are all there is (devices-api.test.ts, mosquitto-auth.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeviceProvision,
  disableDevices,
  enableDevices,
  provisionDevices,
  rollDeviceKey,
} from '../../api/devices/store.ts';
import { renderPasswordFile, replaceFile } from '../../broker/mosquitto-passwords.ts';
import type { Database } from '../../db/client.ts';
import { withBrokerCredentials } from '../../db/devices.ts';
import { LISTENER_APPLICATION_NAME } from '../../db/listener.ts';
import { type Platform, startPlatform } from '../../main.ts';
import { authHeader, signedInAs, TEST_JWT_SECRET } from '../support/auth.ts';
import {
  realDatabase,
  type ScratchDatabase,
  scratchDatabase,
  TEST_KEY_ENCRYPTION_KEY,
} from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

if (!realDatabase) console.warn('credentials-nodes: skipped, needs DATABASE_URL (several api nodes)');

const tag = randomBytes(3).toString('hex');
const METRICS_TOKEN = `metrics-${tag}`.padEnd(24, '0');
/** db/devices.ts PASSWORD_FILE_LOCK: the turn every writer of the password file waits for. */
const PASSWORD_FILE_LOCK = 727_003;

let serial = 0;
const device = (prefix: string): DeviceProvision => {
  const n = ++serial;
  return {
    deviceId: `${prefix}${tag}-${n}`,
    token: `token-${tag}-${prefix}-${n}`.padEnd(32, '0'),
    machine: {
      id: `M${prefix}${tag}-${n}`,
      make: 'Sany',
      model: 'SY365H',
      type: 'excavator',
      serial: `S${prefix}${tag}-${n}`,
      year: 2022,
    },
  };
};

/** Rewrites of the password file waiting for their turn (db/devices.ts withBrokerCredentials). */
async function lockWaiters(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from pg_locks
     where locktype = 'advisory' and objid = $1 and not granted
       and database = (select oid from pg_database where datname = current_database())`,
    [PASSWORD_FILE_LOCK],
  );
  return rows[0]?.n ?? 0;
}

/** The file's lines, sorted; none when it does not exist. */
const fileLines = (path: string) =>
  existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean).sort() : [];
const fileUsers = (path: string) => fileLines(path).map((line) => line.split(':')[0]);

/** What the file must hold: the registry's enabled devices with a broker hash, read here in SQL. */
async function registryLines(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ line: string }>(
    `select id || ':' || broker_password_hash as line from device
     where disabled_at is null and broker_password_hash is not null`,
  );
  return rows.map((r) => r.line).sort();
}

describe.skipIf(!realDatabase)('device credentials on several api nodes sharing one PostgreSQL', () => {
  let scratch: ScratchDatabase;
  let work: string;
  const nodes: Platform[] = [];

  /** An api node on the scratch database, keeping the password file at `file`. */
  async function startNode(file: string): Promise<Platform> {
    const node = await startPlatform(
      {
        ROLES: ['api'],
        PORT: 0,
        MQTT_PORT: 0,
        SIM_DEVICES: 0,
        LOG_LEVEL: 'silent',
        DATA_DIR: work,
        DATABASE_URL: scratch.url,
        JWT_SECRET: TEST_JWT_SECRET,
        KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY,
        METRICS_TOKEN,
        MOSQUITTO_PASSWORD_FILE: file,
        // Where REDIS_URL is set the nodes share it; keys of this run only.
        REDIS_KEY_PREFIX: `rt-test-${tag}:`,
      },
      process.env,
    );
    nodes.push(node);
    return node;
  }

  /** The node's password file rewrites so far (broker_password_file_syncs_total, all outcomes). */
  async function syncsOf(node: Platform): Promise<number> {
    const res = await fetch(`${node.url}/metrics`, { headers: authHeader(METRICS_TOKEN) });
    expect(res.status).toBe(200);
    const text = await res.text();
    return [...text.matchAll(/^broker_password_file_syncs_total\{outcome="\w+"\} (\d+)$/gm)].reduce(
      (sum, m) => sum + Number(m[1]),
      0,
    );
  }

  let a: Platform;
  let b: Platform;
  let fileA: string;
  let fileB: string;

  beforeAll(async () => {
    scratch = await scratchDatabase();
    work = mkdtempSync(join(tmpdir(), 'rt-creds-'));
    fileA = join(work, 'a.passwd');
    fileB = join(work, 'b.passwd');
    a = await startNode(fileA);
    b = await startNode(fileB);
  });

  afterAll(async () => {
    for (const node of nodes) await node.stop().catch(() => {});
    await scratch?.drop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('a bank provisioning 1,000 devices one by one costs each node a couple of rewrites, not 1,000', async () => {
    const before = { a: await syncsOf(a), b: await syncsOf(b) };
    // The writers' lock is held here while the bank lands, as a long rewrite elsewhere would hold
    // it: the rewrites due wait for their turn, so the whole bank lands while they wait, however
    // fast or slow this machine is. Whatever commits meanwhile must share the rewrites already due.
    const holder = new pg.Client({ connectionString: scratch.url });
    await holder.connect();
    try {
      await holder.query('select pg_advisory_lock($1)', [PASSWORD_FILE_LOCK]);
      // One transaction, and one NOTIFY, per device; ten at a time.
      const bank = Array.from({ length: 1000 }, () => device('BK'));
      await Promise.all(
        Array.from({ length: 10 }, async (_, lane) => {
          for (let i = lane; i < bank.length; i += 10)
            await provisionDevices(a.db, [bank[i] as DeviceProvision]);
        }),
      );
      await waitFor(async () => (await lockWaiters(a.db)) === 2, { what: 'both nodes waiting to rewrite' });
    } finally {
      await holder.query('select pg_advisory_unlock_all()').catch(() => {});
      await holder.end();
    }
    const expected = await registryLines(a.db);
    for (const file of [fileA, fileB]) {
      await waitFor(async () => fileLines(file).join() === expected.join(), {
        what: `${file} to get the bank`,
      });
    }
    // The rewrite that waited, and one queued behind it for everything committed meanwhile; a third
    // at most, for a notification that arrived once that one had started. (First in this file, so
    // that no rewrite from an earlier test is still due.)
    const after = { a: await syncsOf(a), b: await syncsOf(b) };
    console.info(`bank of 1,000: rewrites on node A ${after.a - before.a}, on node B ${after.b - before.b}`);
    expect(after.a - before.a).toBeLessThanOrEqual(3);
    expect(after.b - before.b).toBeLessThanOrEqual(3);
  });

  it('a device provisioned, disabled or enabled through one node is in or out of the other node’s file', async () => {
    const admin = await signedInAs(b.url ?? '', b.db, 'admin');
    const call = (node: Platform, path: string, body?: unknown) =>
      fetch(`${node.url}${path}`, {
        method: 'POST',
        headers: { ...authHeader(admin.token), 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      });
    const d = device('NA');

    const provisioned = await call(b, '/api/devices', { devices: [d] });
    expect(provisioned.status, await provisioned.text()).toBe(200);
    await waitFor(async () => fileUsers(fileA).includes(d.deviceId), {
      what: "node A's file to get the device",
    });
    expect(fileLines(fileA)).toEqual(await registryLines(a.db));

    expect((await call(b, `/api/devices/${d.deviceId}/disable`)).status).toBe(200);
    await waitFor(async () => !fileUsers(fileA).includes(d.deviceId), {
      what: "node A's file to lose the device",
    });

    expect((await call(a, `/api/devices/${d.deviceId}/enable`)).status).toBe(200);
    await waitFor(async () => fileUsers(fileB).includes(d.deviceId), {
      what: "node B's file to get it back",
    });
    expect(fileLines(fileB)).toEqual(await registryLines(b.db));
  });

  it('a node whose listening connection is cut reconnects, rewrites for what it missed, and listens again', async () => {
    const d = device('RC');
    await provisionDevices(a.db, [d]);
    await waitFor(async () => fileUsers(fileB).includes(d.deviceId), {
      what: "node B's file to get the device",
    });

    // A change nobody hears of, as one committed while the database restarts: replica mode skips
    // the table's trigger, so no NOTIFY is sent.
    const admin = new pg.Client({ connectionString: scratch.url });
    await admin.connect();
    try {
      await admin.query('begin');
      await admin.query('set local session_replication_role = replica');
      await admin.query('update device set disabled_at = now() where id = $1', [d.deviceId]);
      await admin.query('commit');
      // What a database restart does to every session: the server ends it (57P01).
      const { rows } = await admin.query<{ pid: number }>(
        `select pid from pg_stat_activity where datname = current_database() and application_name = $1`,
        [LISTENER_APPLICATION_NAME],
      );
      expect(rows).toHaveLength(2);
      await admin.query('select pg_terminate_backend(pid) from unnest($1::int[]) as t(pid)', [
        rows.map((r) => r.pid),
      ]);
      const cut = new Set(rows.map((r) => r.pid));

      await waitFor(
        async () => !fileUsers(fileA).includes(d.deviceId) && !fileUsers(fileB).includes(d.deviceId),
        {
          what: 'both files to lose the device disabled while nobody listened',
        },
      );
      await waitFor(
        async () => {
          const now = await admin.query<{ pid: number }>(
            `select pid from pg_stat_activity where datname = current_database() and application_name = $1`,
            [LISTENER_APPLICATION_NAME],
          );
          return now.rows.length === 2 && now.rows.every((r) => !cut.has(r.pid));
        },
        { what: 'two new listening connections' },
      );
    } finally {
      await admin.end();
    }

    // Listening again: a change committed through one node reaches the other's file.
    const later = device('RC');
    await provisionDevices(b.db, [later]);
    await waitFor(async () => fileUsers(fileA).includes(later.deviceId), {
      what: "node A's file to get a later device",
    });
    expect(fileLines(fileA)).toEqual(await registryLines(a.db));
  });

  describe('two nodes writing one file, as on the shared volume', () => {
    let c: Platform;
    let d: Platform;
    let shared: string;

    beforeAll(async () => {
      shared = join(work, 'shared.passwd');
      c = await startNode(shared);
      d = await startNode(shared);
    });

    it('never goes back to an older registry: a node slow between reading and writing holds the others back', async () => {
      const fresh = device('SL');
      let overtaken = false;
      // Node C's rewrite as syncPasswordFile runs it, stalled between its read and its write (a
      // pause, a slow disk) while node D provisions a device: D's rewrite must wait for C's to end.
      // Were it to write first, C's older copy would then replace it.
      await withBrokerCredentials(c.db, async (entries) => {
        expect(entries.map((e) => e.username)).not.toContain(fresh.deviceId);
        await provisionDevices(d.db, [fresh]);
        await waitFor(
          async () => (await lockWaiters(c.db)) >= 1 || fileUsers(shared).includes(fresh.deviceId),
          {
            what: "node D's rewrite waiting for its turn, or done",
          },
        );
        overtaken = fileUsers(shared).includes(fresh.deviceId);
        await replaceFile(shared, renderPasswordFile(entries));
      });
      expect(overtaken, 'a later rewrite wrote while an earlier one was still going').toBe(false);
      await waitFor(async () => fileUsers(shared).includes(fresh.deviceId), {
        what: 'the device in the file',
      });
      expect(fileLines(shared)).toEqual(await registryLines(c.db));
    });

    it('changes through both at once, many times over, leave the file equal to the registry after each round', async () => {
      const live: Record<'c' | 'd', DeviceProvision[]> = { c: [], d: [] };
      /** One node's share of a round: provisions, a disabling, an enabling, a key roll, concurrently. */
      const changes = (node: Platform, own: DeviceProvision[], round: number) => {
        const fresh = [device('RA'), device('RA'), device('RA')];
        own.push(...fresh);
        const work: Promise<unknown>[] = fresh.map((x) => provisionDevices(node.db, [x]));
        if (own.length > 6) {
          const old = own[round % (own.length - 3)] as DeviceProvision;
          work.push(
            round % 2 ? disableDevices(node.db, [old.deviceId]) : enableDevices(node.db, [old.deviceId]),
          );
          work.push(
            rollDeviceKey(node.db, (own[(round * 7) % (own.length - 3)] as DeviceProvision).deviceId),
          );
        }
        return work;
      };
      for (let round = 0; round < 30; round++) {
        await Promise.all([...changes(c, live.c, round), ...changes(d, live.d, round)]);
        // Once the file equals the registry it stays so: the rewrites take turns, and a later one
        // read the registry in its later turn (the test above).
        const expected = await registryLines(c.db);
        await waitFor(async () => fileLines(shared).join() === expected.join(), {
          what: `the file, round ${round}`,
        });
      }
      // Nodes A and B made none of these changes; they heard of them and end with the same file.
      const expected = await registryLines(c.db);
      for (const file of [fileA, fileB, shared]) {
        await waitFor(async () => fileLines(file).join() === expected.join(), {
          what: `${file} to catch up`,
        });
      }
    });
  });
});
