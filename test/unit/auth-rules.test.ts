import { describe, expect, it } from 'vitest';
import { configProblems, parseConfig, parseDuration } from '../../shared/config.ts';
import { accessProblem, mayCall, ROLES } from '../../shared/roles.ts';

describe('who may call a route', () => {
  it('lets a user in when one of its roles is listed, and nobody is a wildcard', () => {
    expect(mayCall(['collector'], ['collector', 'risk_manager'])).toBe(true);
    expect(mayCall(['auditor', 'risk_manager'], ['risk_manager'])).toBe(true);
    expect(mayCall(['admin'], ['collector', 'risk_manager'])).toBe(false);
    expect(mayCall([], ['collector'])).toBe(false);
    expect(mayCall([], 'public')).toBe(true);
  });

  it('keeps the auditor read-only and refuses empty or unknown role lists', () => {
    expect(accessProblem('GET', ['auditor'])).toBeNull();
    expect(accessProblem('HEAD', [...ROLES])).toBeNull();
    expect(accessProblem('POST', ['auditor', 'admin'])).toMatch(/read-only/);
    expect(accessProblem('delete', ['auditor'])).toMatch(/read-only/);
    expect(accessProblem('POST', [])).toMatch(/non-empty/);
    expect(accessProblem('GET', ['root' as never])).toMatch(/unknown role/);
    expect(accessProblem('POST', 'public')).toBeNull();
  });
});

describe('token configuration', () => {
  it('reads JWT_TTL with units and refuses nonsense', () => {
    expect(parseDuration('90')).toBe(90);
    expect(parseDuration('30m')).toBe(1800);
    expect(parseDuration('12h')).toBe(43_200);
    expect(parseDuration('2d')).toBe(172_800);
    expect(parseDuration('12 hours')).toBeNull();
    const ok = parseConfig({});
    expect(ok.ok && ok.config.JWT_TTL).toBe(43_200);
    const bad = parseConfig({ JWT_TTL: 'soon' });
    expect(bad.ok ? [] : bad.errors).toEqual([expect.stringMatching(/^JWT_TTL: .*12h/)]);
    const short = parseConfig({ JWT_TTL: '5s' });
    expect(short.ok).toBe(false);
  });

  it('refuses a short JWT_SECRET', () => {
    const r = parseConfig({ JWT_SECRET: 'short' });
    expect(r.ok ? [] : r.errors).toEqual([expect.stringMatching(/^JWT_SECRET: .*32 characters/)]);
  });

  it('requires JWT_SECRET for an api on PostgreSQL, not embedded and not for ingest alone on a real broker', () => {
    const parse = (env: Record<string, string>) => {
      const r = parseConfig(env);
      if (!r.ok) throw new Error(r.errors.join('; '));
      return configProblems(r.config);
    };
    const db = 'postgres://postgres@127.0.0.1:5432/postgres';
    const kek = 'k'.repeat(43);
    expect(parse({ DATABASE_URL: db, KEY_ENCRYPTION_KEY: kek })).toEqual([
      expect.stringMatching(/^JWT_SECRET: required when DATABASE_URL/),
    ]);
    expect(parse({ DATABASE_URL: db, JWT_SECRET: 'x'.repeat(32), KEY_ENCRYPTION_KEY: kek })).toEqual([]);
    expect(parse({ DATABASE_URL: db, MQTT_URL: 'mqtt://m:1883', ROLES: 'ingest' })).toEqual([]);
    expect(parse({})).toEqual([]);
  });
});
