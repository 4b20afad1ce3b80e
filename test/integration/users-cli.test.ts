/**
 * `npm run users` against PostgreSQL (the command needs DATABASE_URL, so it runs only when the
 * real database is configured): adding a user who can then sign in, the demo users on request,
 * disabling, and clear refusals of bad command lines.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuth } from '../../api/auth/service.ts';
import { createTokens } from '../../api/auth/tokens.ts';
import type { Database } from '../../db/client.ts';
import { realDatabase, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';

const run = promisify(execFile);

describe.skipIf(!realDatabase)('npm run users (postgres)', () => {
  let scratch: ScratchDatabase;
  let db: Database;
  const users = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'api/auth/cli.ts', ...args], {
      env: { ...process.env, DATABASE_URL: scratch.url },
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
  const signIn = (username: string, password: string) =>
    createAuth(db, createTokens({ secret: 'x'.repeat(32), ttlSeconds: 60 })).login(username, password);

  beforeAll(async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
  });
  afterAll(async () => {
    await db?.close();
    await scratch?.drop();
  });

  it('adds a user with a generated password who can sign in, and refuses the name twice', async () => {
    const added = await users('add', 'Li.Na', '--role', 'risk_manager', '--role', 'auditor', '--generate');
    expect(added.code).toBe(0);
    const password = /password: (\S+)/.exec(added.stdout)?.[1];
    expect(password).toBeDefined();
    expect((await signIn('li.na', password!))?.user.roles).toEqual(['risk_manager', 'auditor']);
    const again = await users('add', 'li.na', '--role', 'admin', '--password', 'long-enough');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('username li.na is taken');
  });

  it('creates the demo users only when asked, once, and disables one', async () => {
    expect(await signIn('agent', 'demo')).toBeNull();
    expect((await users('demo')).code).toBe(0);
    expect((await users('demo')).stdout).toContain('all there already');
    expect((await signIn('agent', 'demo'))?.user.roles).toEqual(['recovery_agent']);
    expect((await users('disable', 'agent')).code).toBe(0);
    expect(await signIn('agent', 'demo')).toBeNull();
  });

  it("lifts a user name's sign-in lock, and says when there was none", async () => {
    const added = await users('add', 'wang.fang', '--role', 'risk_manager', '--password', 'right-password');
    expect(added.code).toBe(0);
    for (let i = 0; i < 5; i++) expect(await signIn('wang.fang', 'wrong-password')).toBeNull();
    await expect(signIn('wang.fang', 'right-password')).rejects.toThrow(/too many failed sign-ins/);
    const unlocked = await users('unlock', 'Wang.Fang');
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toBe('unlocked wang.fang: 5 failed sign-ins no longer count for it\n');
    expect((await signIn('wang.fang', 'right-password'))?.user.username).toBe('wang.fang');
    expect((await users('unlock', 'wang.fang')).stdout).toBe(
      'wang.fang had no failed sign-ins counting against it\n',
    );
    const { rows } = await db.query<{ actor: string; action: string }>(
      "select actor, action from audit_log where action = 'auth.unlock' and subject = 'user:wang.fang' order by seq",
    );
    expect(rows.map((r) => r.action)).toEqual(['auth.unlock', 'auth.unlock']);
    expect(rows.every((r) => r.actor.startsWith('cli:'))).toBe(true);
  });

  it('refuses a bad command line with exit 2 and changes nothing', async () => {
    const before = await db.query('select count(*)::int as n from app_user');
    for (const args of [
      ['add', 'x', '--role', 'boss', '--generate'],
      ['add', 'x', '--role', 'admin'],
      ['add', 'x', '--role', 'admin', '--password', 'short'],
      ['unlock'],
      ['frobnicate'],
    ]) {
      const r = await users(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^users: /);
    }
    expect((await db.query('select count(*)::int as n from app_user')).rows).toEqual(before.rows);
  });
});
