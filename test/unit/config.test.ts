import { describe, expect, it } from 'vitest';
import { type Config, parseConfig, servesApiDocs } from '../../shared/config.ts';

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
