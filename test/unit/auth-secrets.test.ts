import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hashPassword, needsRehash, parseHash, verifyPassword } from '../../api/auth/password.ts';
import { loadOrCreateSecret, SECRET_FILE } from '../../api/auth/secret.ts';
import { createTokens } from '../../api/auth/tokens.ts';

describe('password hashes', () => {
  it('verify the right password only, with salt and cost stored in the hash', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).not.toBe(b); // a fresh salt each time
    expect(parseHash(a)?.cost).toEqual({ N: 2 ** 15, r: 8, p: 3 });
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horsf', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('never match an unreadable stored hash, and flag cheaper ones for rehashing', async () => {
    expect(await verifyPassword('x', 'plain-text')).toBe(false);
    expect(await verifyPassword('x', 'scrypt$a$b$c$d$e')).toBe(false);
    const cheap = await hashPassword('x', { N: 2 ** 10, r: 8, p: 1 });
    expect(await verifyPassword('x', cheap)).toBe(true);
    expect(needsRehash(cheap)).toBe(true);
    expect(needsRehash(await hashPassword('x'))).toBe(false);
  });
});

describe('tokens', () => {
  const secret = 'a-secret-of-at-least-thirty-two-characters';
  it('carry the user id until they expire', async () => {
    let now = Date.parse('2026-11-28T08:00:00Z');
    const tokens = createTokens({ secret, ttlSeconds: 12 * 3600, now: () => now });
    const { token, expiresAt } = await tokens.sign('user-1');
    expect(expiresAt.toISOString()).toBe('2026-11-28T20:00:00.000Z');
    expect((await tokens.verify(token))?.userId).toBe('user-1');
    now = Date.parse('2026-11-28T19:59:00Z');
    expect((await tokens.verify(token))?.userId).toBe('user-1');
    now = Date.parse('2026-11-28T20:00:01Z');
    expect(await tokens.verify(token)).toBeNull();
  });

  it('refuse another secret and garbage', async () => {
    const mine = createTokens({ secret, ttlSeconds: 60 });
    const theirs = createTokens({ secret: `${secret}!`, ttlSeconds: 60 });
    expect(await mine.verify((await theirs.sign('user-1')).token)).toBeNull();
    expect(await mine.verify('')).toBeNull();
    expect(await mine.verify('a.b.c')).toBeNull();
  });
});

describe('the embedded token secret', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rt-secret-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is made once, readable by its owner only, and the same after a restart', () => {
    const first = loadOrCreateSecret(dir);
    expect(first.length).toBeGreaterThanOrEqual(32);
    expect(loadOrCreateSecret(dir)).toBe(first);
    expect(readFileSync(join(dir, SECRET_FILE), 'utf8').trim()).toBe(first);
    expect(statSync(join(dir, SECRET_FILE)).mode & 0o077).toBe(0);
  });
});
