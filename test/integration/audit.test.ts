/**
 * The audit chain on a real database: appends verify; an edit made behind the trigger's back, a
 * removed row, and a rollback are told apart; the trigger refuses UPDATE, DELETE and TRUNCATE;
 * parallel appends keep one chain; sign-ins and user changes are recorded. Verification through
 * the route and through `npm run audit:verify` (a child process on the same database).
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit, listAudit, verifyAuditChain } from '../../api/audit/log.ts';
import { disableUser } from '../../api/auth/users.ts';
import type { Database, Sql } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { type ChainedEntry, chainHash } from '../../shared/audit.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, createTestUser, signedInAs } from '../support/auth.ts';
import { engineName, realDatabase, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';

const run = promisify(execFile);

const append = (db: Database, i: number) =>
  db.transaction((tx) =>
    appendAudit(tx, {
      actor: 'risk1',
      action: 'command.approve',
      subject: `command:${i}`,
      detail: { i, reason: 'stage 3, warning sent 72 h before' },
    }),
  );

async function appendMany(db: Database, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await append(db, i);
}

/** What someone with the owner's rights can do: switch the trigger off, change rows, switch it on. */
async function behindTheTrigger(db: Database, sql: string, params: unknown[] = []): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.exec('alter table audit_log disable trigger audit_log_no_update');
    await tx.query(sql, params);
    await tx.exec('alter table audit_log enable trigger audit_log_no_update');
  });
}

const rowAt = async (db: Sql, seq: number) => (await listAudit(db, seq - 1, 1))[0]!;

describe(`audit chain (${engineName})`, () => {
  let t: TestApp;
  let auditor: string;

  beforeAll(async () => {
    t = await startTestApp();
    auditor = (await signedInAs(t.app, t.db, 'auditor')).token;
  });
  afterAll(async () => {
    await t?.close();
  });

  const verifyRoute = async () => {
    const res = await t.app.inject({ url: '/api/audit/verify', headers: authHeader(auditor) });
    expect(res.statusCode).toBe(200);
    return res.json() as { ok: boolean; count: number; firstBroken: { seq: number; reason: string } | null };
  };

  it('verifies appended entries, read in one page or many', async () => {
    await appendMany(t.db, 120);
    const whole = await verifyAuditChain(t.db);
    expect(whole.ok).toBe(true);
    expect(whole.count).toBeGreaterThanOrEqual(120);
    expect(await verifyAuditChain(t.db, 7)).toEqual(whole);
    expect(await verifyRoute()).toEqual(whole);
  });

  it('refuses UPDATE, DELETE and TRUNCATE, and the rows stay as they were', async () => {
    const before = await rowAt(t.db, 3);
    await expect(t.db.query("update audit_log set actor = 'someone' where seq = 3")).rejects.toThrow(
      /append-only/,
    );
    await expect(t.db.query('delete from audit_log where seq = 3')).rejects.toThrow(/append-only/);
    await expect(t.db.exec('truncate audit_log')).rejects.toThrow(/append-only/);
    expect(await rowAt(t.db, 3)).toEqual(before);
    expect((await verifyAuditChain(t.db)).ok).toBe(true);
  });

  it('names exactly the row edited with the trigger disabled, and holds again once it is put back', async () => {
    const seq = 37;
    const original = await rowAt(t.db, seq);
    await behindTheTrigger(t.db, `update audit_log set detail = detail || '{"i": 999}' where seq = $1`, [
      seq,
    ]);
    expect((await verifyAuditChain(t.db)).firstBroken).toEqual({ seq, reason: 'hash mismatch' });
    expect((await verifyRoute()).firstBroken).toEqual({ seq, reason: 'hash mismatch' });

    // Re-hashing the edited row moves the break to the next one, which still names the old hash.
    const edited = await rowAt(t.db, seq);
    await behindTheTrigger(t.db, 'update audit_log set hash = $2 where seq = $1', [
      seq,
      chainHash(edited.prevHash, edited),
    ]);
    expect((await verifyAuditChain(t.db)).firstBroken).toEqual({
      seq: seq + 1,
      reason: 'prev_hash mismatch',
    });

    await behindTheTrigger(t.db, 'update audit_log set detail = $2::jsonb, hash = $3 where seq = $1', [
      seq,
      JSON.stringify(original.detail),
      original.hash,
    ]);
    expect((await verifyAuditChain(t.db)).ok).toBe(true);
  });

  it('names the row after a deleted one (gap in seq)', async () => {
    const removed = await rowAt(t.db, 50);
    await behindTheTrigger(t.db, 'delete from audit_log where seq = 50');
    expect((await verifyAuditChain(t.db)).firstBroken).toEqual({ seq: 51, reason: 'gap in seq' });
    await reinsert(t.db, removed);
    expect((await verifyAuditChain(t.db)).ok).toBe(true);
  });

  it('keeps one dense chain under 50 parallel transactions, some of which roll back', async () => {
    const before = await verifyAuditChain(t.db);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        t.db.transaction(async (tx) => {
          // Work before the append, so transactions overlap while they wait for the lock.
          await tx.query('select count(*) from audit_log');
          const entry = await appendAudit(tx, {
            actor: `agent${i % 4}`,
            action: 'command.request',
            subject: `command:p${i}`,
            detail: { i },
          });
          if (i % 10 === 9) throw new Error('the audited change failed');
          return entry;
        }),
      ),
    );
    const committed = results.filter((r) => r.status === 'fulfilled').length;
    expect(committed).toBe(45);
    const after = await verifyAuditChain(t.db);
    expect(after).toMatchObject({ ok: true, count: before.count + 45 });
    expect(after.head?.seq).toBe(after.count);
    const subjects = (await listAudit(t.db, before.count, 100)).map((e) => e.subject);
    expect(subjects).not.toContain('command:p9');
    expect(new Set(subjects).size).toBe(45);
  });

  it('records sign-ins, refused sign-ins (without the password) and user changes', async () => {
    const start = (await verifyAuditChain(t.db)).count;
    const u = await createTestUser(t.db, 'collector');
    const login = (password: string, username = u.username) =>
      t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { username, password } });
    expect((await login(u.password)).statusCode).toBe(200);
    expect((await login('not-the-password-8d1f')).statusCode).toBe(401);
    expect((await login('whatever-4c2a', 'nobody-here')).statusCode).toBe(401);
    await disableUser(t.db, u.user.id, 'admin');
    await disableUser(t.db, u.user.id, 'admin'); // already disabled: nothing changes, nothing recorded
    expect((await login(u.password)).statusCode).toBe(401);

    const entries = await listAudit(t.db, start, 100);
    expect(entries.map((e) => [e.action, e.actor, e.subject, e.detail])).toEqual([
      [
        'user.create',
        'system',
        `user:${u.username}`,
        { userId: u.user.id, name: u.user.name, roles: ['collector'], scope: { kind: 'all' } },
      ],
      ['auth.login', u.username, `user:${u.username}`, { userId: u.user.id }],
      [
        'auth.login_failed',
        u.username,
        `user:${u.username}`,
        { reason: 'wrong password', userId: u.user.id },
      ],
      ['auth.login_failed', 'nobody-here', 'user:nobody-here', { reason: 'unknown user', userId: null }],
      ['user.disable', 'admin', `user:${u.username}`, { userId: u.user.id }],
      ['auth.login_failed', u.username, `user:${u.username}`, { reason: 'user disabled', userId: u.user.id }],
    ]);
    const text = JSON.stringify(entries);
    for (const secret of [u.password, 'not-the-password-8d1f', 'whatever-4c2a'])
      expect(text).not.toContain(secret);
    expect((await verifyAuditChain(t.db)).ok).toBe(true);
  });

  it('pages the log for auditors and administrators, with the hashes', async () => {
    const admin = (await signedInAs(t.app, t.db, 'admin')).token;
    const first = await t.app.inject({ url: '/api/audit?limit=10', headers: authHeader(admin) });
    expect(first.statusCode).toBe(200);
    const page = first.json() as { entries: (ChainedEntry & { at: string })[]; next: number | null };
    expect(page.entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(page.next).toBe(10);
    expect(page.entries[1]!.prevHash).toBe(page.entries[0]!.hash);
    expect(page.entries[0]!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const count = (await verifyAuditChain(t.db)).count;
    const last = await t.app.inject({
      url: `/api/audit?after=${count - 2}&limit=10`,
      headers: authHeader(auditor),
    });
    expect(last.json()).toMatchObject({ next: null });
    expect(last.json().entries).toHaveLength(2);
    const bad = await t.app.inject({ url: '/api/audit?limit=0', headers: authHeader(auditor) });
    expect(bad.statusCode).toBe(400);
    const collector = (await signedInAs(t.app, t.db, 'collector')).token;
    expect(
      (await t.app.inject({ url: '/api/audit/verify', headers: authHeader(collector) })).statusCode,
    ).toBe(403);
  });
});

async function reinsert(db: Database, e: ChainedEntry): Promise<void> {
  await db.query(
    `insert into audit_log (seq, at, actor, action, subject, detail, prev_hash, hash)
     overriding system value values ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
    [e.seq, e.at, e.actor, e.action, e.subject, JSON.stringify(e.detail), e.prevHash, e.hash],
  );
}

// Each run starts tsx and opens the database: seconds each, more on a busy machine.
describe(`npm run audit:verify (${engineName})`, { timeout: 240_000 }, () => {
  // The command opens the database itself: a scratch PostgreSQL database, or an embedded one on
  // disk (the in-memory one of the other tests is not reachable from another process).
  let scratch: ScratchDatabase;
  let dataDir: string | undefined;
  let db: Database;
  const openIt = () => scratch.open();
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'api/audit/cli.ts', ...args], {
      env: { ...process.env, DATABASE_URL: scratch.url ?? '', DATA_DIR: dataDir ?? '' },
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
  // The embedded engine belongs to one process: close it while the command runs.
  const withClosed = async <T>(fn: () => Promise<T>): Promise<T> => {
    if (realDatabase) return fn();
    await db.close();
    try {
      return await fn();
    } finally {
      db = await openIt();
    }
  };

  beforeAll(async () => {
    scratch = await scratchDatabase();
    dataDir = scratch.dataDir;
    db = await openIt();
    await migrate(db);
    await appendMany(db, 30);
  });
  afterAll(async () => {
    await db?.close();
    await scratch?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('exits 0 on an intact chain, prints the head as an anchor, and checks an anchor', async () => {
    const head = (await verifyAuditChain(db)).head!;
    const [ok, printed, wrong] = await withClosed(async () => [
      await cli(),
      await cli('--print-head', '--anchor', `30:${head.hash}`),
      await cli('--anchor', `30:${'a'.repeat(64)}`),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`audit chain holds: 30 entries, head seq 30 ${head.hash}`);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toBe(`30:${head.hash}\n`);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('anchor seq 30 has hash');
    const bad = await cli('--anchor', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--anchor must be');
  });

  it('exits 1 naming the edited row', async () => {
    await behindTheTrigger(db, `update audit_log set actor = 'risk2' where seq = 12`);
    const broken = await withClosed(() => cli());
    expect(broken.code).toBe(1);
    expect(broken.stderr).toContain('audit chain broken at seq 12: hash mismatch');
  });
});
