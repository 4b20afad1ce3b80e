import { describe, expect, it } from 'vitest';
import {
  type AuditInput,
  type ChainedEntry,
  ChainVerifier,
  canonicalEntry,
  chainHash,
  GENESIS_HASH,
  nextEntry,
  verifyChain,
} from '../../shared/audit.ts';

const first: AuditInput = {
  actor: 'risk1',
  action: 'command.approve',
  subject: 'command:17',
  detail: { reason: 'stage 3, warned 72 h before', amounts: [1, 2.5], 客户: '中' },
};
const second: AuditInput = { actor: 'auditor', action: 'auth.login', subject: 'user:auditor', detail: {} };

function chain(n: number): ChainedEntry[] {
  const out: ChainedEntry[] = [];
  for (let i = 0; i < n; i++) {
    out.push(
      nextEntry(
        out[i - 1] ?? null,
        {
          actor: `user${i % 3}`,
          action: 'user.create',
          subject: `user:u${i}`,
          detail: { i, roles: ['auditor'] },
        },
        new Date(Date.UTC(2026, 10, 28, 9, 0, i)),
      ),
    );
  }
  return out;
}

describe('the canonical form and the hash', () => {
  // Known answers computed outside this code (Python: json.dumps(sort_keys=True,
  // separators=(',', ':'), ensure_ascii=False), hashlib.sha256), so the documented format is what
  // an independent verifier reproduces.
  it('matches an independent computation of the documented format', () => {
    const a = nextEntry(null, first, new Date('2026-11-28T09:30:00.000Z'));
    expect(canonicalEntry(a)).toBe(
      '{"action":"command.approve","actor":"risk1","at":"2026-11-28T09:30:00.000Z","detail":{"amounts":[1,2.5],"reason":"stage 3, warned 72 h before","客户":"中"},"seq":1,"subject":"command:17"}',
    );
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    expect(a.hash).toBe('f26ad81f908afbc277939b23a3248f0326cb68b9b554851ffe83b3bb22d6538b');
    const b = nextEntry(a, second, new Date('2026-11-28T09:31:00.250Z'));
    expect(b.seq).toBe(2);
    expect(b.prevHash).toBe(a.hash);
    expect(b.hash).toBe('46019a955ee4f9c408bf6621a6baa0537b08cab2da7bd9e58135de7ec53a76c8');
  });

  it('does not depend on the order keys were written in, at any depth', () => {
    const at = new Date('2026-11-28T00:00:00.000Z');
    const x = nextEntry(null, { ...second, detail: { b: { y: 1, x: 2 }, a: 1 } }, at);
    const y = nextEntry(null, { ...second, detail: { a: 1, b: { x: 2, y: 1 } } }, at);
    expect(x.hash).toBe(y.hash);
  });

  it('changes with every field, the time to the millisecond, and the previous hash', () => {
    const base = nextEntry(null, first, new Date('2026-11-28T09:30:00.000Z'));
    const variants: ChainedEntry[] = [
      { ...base, seq: 2 },
      { ...base, at: new Date('2026-11-28T09:30:00.001Z') },
      { ...base, actor: 'risk2' },
      { ...base, action: 'command.reject' },
      { ...base, subject: 'command:18' },
      { ...base, detail: { ...base.detail, reason: 'stage 2' } },
      { ...base, detail: { ...base.detail, extra: null } },
    ];
    for (const v of variants) expect(chainHash(GENESIS_HASH, v)).not.toBe(base.hash);
    expect(chainHash('f'.repeat(64), base)).not.toBe(base.hash);
  });

  it('hashes the detail as JSON keeps it: undefined dropped, dates as text', () => {
    const at = new Date('2026-11-28T00:00:00.000Z');
    const e = nextEntry(null, { ...second, detail: { gone: undefined, when: at } }, at);
    expect(e.detail).toEqual({ when: '2026-11-28T00:00:00.000Z' });
    expect(verifyChain([e]).ok).toBe(true);
  });

  it('refuses what JSON cannot carry faithfully', () => {
    const at = new Date();
    expect(nextEntry(null, { ...second, detail: { x: Number.NaN } }, at).detail).toEqual({ x: null });
    expect(() => nextEntry(null, { ...second, detail: [] as never }, at)).toThrow(/JSON object/);
    expect(() => nextEntry(null, { ...second, subject: '\ud800' }, at)).toThrow(/surrogate/i);
  });
});

describe('verifying a chain', () => {
  it('holds for an untouched chain, and for none at all', () => {
    expect(verifyChain(chain(50))).toEqual({
      ok: true,
      count: 50,
      firstBroken: null,
      head: { seq: 50, hash: chain(50)[49]!.hash },
    });
    expect(verifyChain([])).toEqual({ ok: true, count: 0, firstBroken: null, head: null });
  });

  it('names an edited entry (hash mismatch), and the next one when the edit was re-hashed', () => {
    const c = chain(10);
    c[4] = { ...c[4]!, detail: { i: 4, roles: ['admin'] } };
    expect(verifyChain(c).firstBroken).toEqual({ seq: 5, reason: 'hash mismatch' });
    c[4] = { ...c[4]!, hash: chainHash(c[4]!.prevHash, c[4]!) };
    expect(verifyChain(c).firstBroken).toEqual({ seq: 6, reason: 'prev_hash mismatch' });
    expect(verifyChain(c).count).toBe(10);
  });

  it('names the entry after a removed one (gap in seq), also when the first is removed', () => {
    const c = chain(10);
    expect(verifyChain([...c.slice(0, 3), ...c.slice(4)]).firstBroken).toEqual({
      seq: 5,
      reason: 'gap in seq',
    });
    expect(verifyChain(c.slice(1)).firstBroken).toEqual({ seq: 2, reason: 'gap in seq' });
  });

  it('catches a removal papered over by renumbering (prev_hash no longer matches)', () => {
    const c = chain(6);
    const renumbered = [...c.slice(0, 2), ...c.slice(3).map((e) => ({ ...e, seq: e.seq - 1 }))];
    expect(verifyChain(renumbered).firstBroken).toEqual({ seq: 3, reason: 'prev_hash mismatch' });
  });

  it('calls an entry that cannot be written canonically a hash mismatch instead of failing', () => {
    const c = chain(3);
    // jsonb keeps 1e400 exactly; it reads back as Infinity, which has no canonical form.
    c[1] = { ...c[1]!, detail: { amount: Number.POSITIVE_INFINITY } };
    expect(verifyChain(c).firstBroken).toEqual({ seq: 2, reason: 'hash mismatch' });
  });

  it('reports only the first break', () => {
    const c = chain(10);
    c[2] = { ...c[2]!, actor: 'someone else' };
    c[7] = { ...c[7]!, actor: 'someone else' };
    expect(verifyChain(c).firstBroken).toEqual({ seq: 3, reason: 'hash mismatch' });
  });

  it('gives the same answer fed page by page, or from a trusted point', () => {
    const c = chain(23);
    const paged = new ChainVerifier();
    for (let i = 0; i < c.length; i += 5) for (const e of c.slice(i, i + 5)) paged.push(e);
    expect(paged.report()).toEqual(verifyChain(c));
    const fromAnchor = new ChainVerifier({ seq: 10, hash: c[9]!.hash });
    for (const e of c.slice(10)) fromAnchor.push(e);
    expect(fromAnchor.report()).toMatchObject({ ok: true, count: 13, head: { seq: 23 } });
  });
});
