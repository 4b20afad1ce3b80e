import { describe, expect, it } from 'vitest';
import {
  type Config,
  ConfigError,
  configProblems,
  connectHost,
  isLoopback,
  loadConfig,
  parseConfig,
  servesApiDocs,
} from '../../shared/config.ts';

describe('configuration', () => {
  it('has working defaults with nothing set (the embedded platform)', () => {
    const r = parseConfig({});
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.config).toMatchObject({
      PORT: 8080,
      MQTT_PORT: 1883,
      DATA_DIR: './data',
      SIM_DEVICES: 200,
      LOG_LEVEL: 'info',
      ROLES: ['ingest', 'api', 'sim'],
    });
    expect(r.config.MQTT_URL).toBeUndefined();
    expect(r.config.DATABASE_URL).toBeUndefined();
  });

  it('reads real engines and roles', () => {
    const r = parseConfig({
      MQTT_URL: 'mqtt://mosquitto:1883',
      DATABASE_URL: 'postgres://u:p@db:5432/fleet',
      ROLES: 'ingest, ingest',
      SIM_DEVICES: '0',
      PORT: '9000',
    });
    expect(r).toMatchObject({
      ok: true,
      config: { MQTT_URL: 'mqtt://mosquitto:1883', ROLES: ['ingest'], SIM_DEVICES: 0, PORT: 9000 },
    });
  });

  it('treats an empty variable as unset', () => {
    expect(parseConfig({ MQTT_URL: '', PORT: '' })).toMatchObject({ ok: true, config: { PORT: 8080 } });
  });

  it('names every bad variable with what it should be', () => {
    const r = parseConfig({
      PORT: 'eighty',
      MQTT_PORT: '70000',
      MQTT_URL: 'http://broker',
      DATABASE_URL: 'mysql://x',
      SIM_DEVICES: '-5',
      LOG_LEVEL: 'loud',
      ROLES: 'api,broker',
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const text = r.errors.join('\n');
    for (const name of [
      'PORT',
      'MQTT_PORT',
      'MQTT_URL',
      'DATABASE_URL',
      'SIM_DEVICES',
      'LOG_LEVEL',
      'ROLES',
    ]) {
      expect(text).toContain(`${name}: `);
    }
    expect(text).toContain('MQTT_URL must be a URL starting with mqtt://');
    expect(text).toContain('SIM_DEVICES must be 0 or more');
  });

  it('keeps three years of raw telemetry by default; 0 keeps it all; less than 60 days is refused', () => {
    expect(parseConfig({})).toMatchObject({ ok: true, config: { TELEMETRY_RETENTION_DAYS: 1095 } });
    expect(parseConfig({ TELEMETRY_RETENTION_DAYS: '0' })).toMatchObject({
      ok: true,
      config: { TELEMETRY_RETENTION_DAYS: 0 },
    });
    expect(parseConfig({ TELEMETRY_RETENTION_DAYS: '90' })).toMatchObject({
      ok: true,
      config: { TELEMETRY_RETENTION_DAYS: 90 },
    });
    for (const bad of ['30', '-1', '1.5', 'a year', '40000']) {
      const r = parseConfig({ TELEMETRY_RETENTION_DAYS: bad });
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.errors.join('\n')).toContain('TELEMETRY_RETENTION_DAYS');
    }
  });

  it('takes the ingest share group as one MQTT topic level, "ingest" by default', () => {
    expect(parseConfig({})).toMatchObject({ ok: true, config: { INGEST_SHARE_GROUP: 'ingest' } });
    expect(parseConfig({ INGEST_SHARE_GROUP: 'ingest-eu_2.a' })).toMatchObject({
      ok: true,
      config: { INGEST_SHARE_GROUP: 'ingest-eu_2.a' },
    });
    for (const bad of ['a/b', 'in+', '#', 'two words', 'x'.repeat(65), 'tab\there']) {
      const r = parseConfig({ INGEST_SHARE_GROUP: bad });
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.errors.join('\n')).toContain('INGEST_SHARE_GROUP must be one MQTT topic level');
    }
  });

  it('numbers the simulated boxes under SIM_ID_PREFIX, SIM by default', () => {
    expect(parseConfig({})).toMatchObject({ ok: true, config: { SIM_ID_PREFIX: 'SIM' } });
    expect(parseConfig({ SIM_ID_PREFIX: 'E2E-t1.b' })).toMatchObject({
      ok: true,
      config: { SIM_ID_PREFIX: 'E2E-t1.b' },
    });
    for (const bad of ['a/b', '-x', '#', 'x'.repeat(41)]) {
      const r = parseConfig({ SIM_ID_PREFIX: bad });
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.errors.join('\n')).toContain('SIM_ID_PREFIX must be');
    }
  });

  it('caps an ingest transaction at 2000 reports unless INGEST_MAX_BATCH says 1 to 10000', () => {
    expect(parseConfig({})).toMatchObject({ ok: true, config: { INGEST_MAX_BATCH: 2000 } });
    expect(parseConfig({ INGEST_MAX_BATCH: '5000' })).toMatchObject({
      ok: true,
      config: { INGEST_MAX_BATCH: 5000 },
    });
    for (const bad of ['0', '10001', '2.5', 'lots']) {
      const r = parseConfig({ INGEST_MAX_BATCH: bad });
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.errors.join('\n')).toMatch(/INGEST_MAX_BATCH must be/);
    }
  });

  it('listens on loopback unless HOST names an address, which must be an IP address', () => {
    expect(parseConfig({})).toMatchObject({ ok: true, config: { HOST: '127.0.0.1', DEMO_PASSWORDS: false } });
    for (const host of ['0.0.0.0', '::', '192.0.2.7', '::1', 'fe80::1']) {
      expect(parseConfig({ HOST: host }), host).toMatchObject({ ok: true, config: { HOST: host } });
    }
    for (const bad of ['localhost', 'example.com', '256.1.1.1', '1.2.3', 'http://0.0.0.0', ' ']) {
      const r = parseConfig({ HOST: bad });
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.errors.join('\n'), bad).toContain('HOST must be an IP address');
    }
    expect(['127.0.0.1', '127.1.2.3', '::1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '192.0.2.7', '10.0.0.1'].some(isLoopback)).toBe(false);
    // Where the platform's own clients connect to a server listening on HOST.
    expect(connectHost('0.0.0.0')).toBe('127.0.0.1');
    expect(connectHost('::')).toBe('[::1]');
    expect(connectHost('192.0.2.7')).toBe('192.0.2.7');
  });

  it('refuses the demo sign-ins on a HOST open to the network unless DEMO_PASSWORDS=1', () => {
    const refusal = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return null;
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).problems.join('\n');
      }
    };
    for (const host of ['0.0.0.0', '::', '192.0.2.7']) {
      const problem = refusal({ HOST: host });
      expect(problem, host).toContain(`HOST: ${host} opens the platform to the network`);
      expect(problem).toContain('DEMO_PASSWORDS=1');
      expect(refusal({ HOST: host, DEMO_PASSWORDS: '1' }), host).toBeNull();
    }
    expect(refusal({})).toBeNull();
    expect(refusal({ HOST: '127.0.0.1' })).toBeNull();
    // No demo sign-ins: PostgreSQL (users of one's own), or a process without the api.
    const secret = 'x'.repeat(32);
    const kek = Buffer.alloc(32, 7).toString('base64');
    expect(
      refusal({
        HOST: '0.0.0.0',
        DATABASE_URL: 'postgres://db/x',
        JWT_SECRET: secret,
        KEY_ENCRYPTION_KEY: kek,
      }),
    ).toBeNull();
    expect(refusal({ HOST: '0.0.0.0', ROLES: 'ingest' })).toBeNull();
    const r = parseConfig({ DEMO_PASSWORDS: 'yes' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain('DEMO_PASSWORDS must be 1');
  });

  it('derives the simulated tokens from SIM_TOKEN_KEY only when it is set, and long enough', () => {
    const unset = parseConfig({});
    expect(unset.ok && unset.config.SIM_TOKEN_KEY).toBeUndefined();
    expect(parseConfig({ SIM_TOKEN_KEY: 'k'.repeat(16) })).toMatchObject({
      ok: true,
      config: { SIM_TOKEN_KEY: 'k'.repeat(16) },
    });
    const r = parseConfig({ SIM_TOKEN_KEY: 'short' });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.join('\n')).toContain('SIM_TOKEN_KEY must be at least 16 characters');
  });

  it('takes KEY_ENCRYPTION_KEY as 32 bytes (base64 or hex), and requires it with DATABASE_URL for the api', () => {
    const problems = (env: Record<string, string>) => {
      const r = parseConfig(env);
      return r.ok ? configProblems(r.config) : r.errors;
    };
    const db = 'postgres://u:p@db:5432/fleet';
    const base = { DATABASE_URL: db, JWT_SECRET: 'x'.repeat(32) };
    const base64 = Buffer.alloc(32, 7).toString('base64');
    const hex = Buffer.alloc(32, 7).toString('hex');
    expect(problems({ ...base, KEY_ENCRYPTION_KEY: base64 })).toEqual([]);
    expect(problems({ ...base, KEY_ENCRYPTION_KEY: hex })).toEqual([]);
    expect(problems(base)).toEqual([
      expect.stringMatching(/^KEY_ENCRYPTION_KEY: required when DATABASE_URL/),
    ]);
    // An ingest-only process opens no secrets.
    expect(problems({ DATABASE_URL: db, MQTT_URL: 'mqtt://m:1883', ROLES: 'ingest' })).toEqual([]);
    // The simulator provisions its boxes, whose keys are wrapped.
    expect(problems({ DATABASE_URL: db, MQTT_URL: 'mqtt://m:1883', ROLES: 'sim' })).toEqual([
      expect.stringMatching(/^KEY_ENCRYPTION_KEY: required when DATABASE_URL/),
    ]);
    // Embedded: the platform keeps its own key in DATA_DIR.
    expect(problems({})).toEqual([]);
    for (const bad of ['short', hex.slice(2), `${base64}AAAA`, 'z'.repeat(64)]) {
      expect(problems({ ...base, KEY_ENCRYPTION_KEY: bad })).toEqual([
        expect.stringMatching(/^KEY_ENCRYPTION_KEY: .*must be 32 bytes/),
      ]);
    }
    expect(problems({ KEY_ENCRYPTION_KEY_PREVIOUS: hex })).toEqual([
      expect.stringMatching(/^KEY_ENCRYPTION_KEY_PREVIOUS: only with KEY_ENCRYPTION_KEY/),
    ]);
  });

  it('reads request budgets as <requests>/<window>, 0 for none, and names a bad one', () => {
    const r = parseConfig({ RATE_LIMIT_TRACKS: '300/5m', RATE_LIMIT_IMPORTS: '0' });
    expect(r).toMatchObject({
      ok: true,
      config: {
        RATE_LIMIT_SIGN_IN: { max: 30, windowSeconds: 60 },
        RATE_LIMIT_IMPORTS: { max: 0 },
        RATE_LIMIT_TRACKS: { max: 300, windowSeconds: 300 },
      },
    });
    for (const bad of ['30', '30/', 'x/1m', '30/2d', '0/1m']) {
      const b = parseConfig({ RATE_LIMIT_SIGN_IN: bad });
      expect(b.ok, bad).toBe(false);
      if (!b.ok) expect(b.errors.join('\n')).toMatch(/RATE_LIMIT_SIGN_IN must be <requests>\/<window>/);
    }
  });

  it('serves /docs by default only on the embedded database, and keeps dead letters 30 days', () => {
    const config = (env: Record<string, string>) => {
      const r = parseConfig(env);
      if (!r.ok) throw new Error(r.errors.join('; '));
      return r.config as Config;
    };
    expect(servesApiDocs(config({}))).toBe(true);
    expect(servesApiDocs(config({ DATABASE_URL: 'postgres://db/fleet' }))).toBe(false);
    expect(servesApiDocs(config({ DATABASE_URL: 'postgres://db/fleet', API_DOCS: 'on' }))).toBe(true);
    expect(servesApiDocs(config({ API_DOCS: 'off' }))).toBe(false);
    expect(config({}).DEAD_LETTER_RETENTION_DAYS).toBe(30);
    expect(parseConfig({ DEAD_LETTER_RETENTION_DAYS: '-1' }).ok).toBe(false);
    expect(parseConfig({ METRICS_TOKEN: 'short' }).ok).toBe(false);
  });
});
