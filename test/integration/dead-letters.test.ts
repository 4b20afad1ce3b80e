/**
 * Dead letters on a real database: a backlog of a thousand bad reports is one row counting its
 * problems, with the payload cut to its first kilobyte; admins page through them with filters; the
 * retention pass deletes what is older than its days and nothing newer.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify } from '../../ingest/classify.ts';
import { startDeadLetterRetention } from '../../ingest/retention.ts';
import { writeBatch } from '../../ingest/store.ts';
import type { DeadLetterPage } from '../../shared/api/ingest.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

const DAY = 86_400_000;
const options = { maxPayloadBytes: 64 * 1024, maxClockSkewMs: 60_000 };
const bytes = (s: string) => new TextEncoder().encode(s);

describe(`dead letters on ${engineName}`, () => {
  let t: TestApp;
  let admin: string;
  const now = Date.now();
  const device = `DL${process.pid}`;

  const store = (topic: string, payload: string, receivedAt = now) =>
    t.db.transaction((tx) => writeBatch(tx, classify(topic, bytes(payload), receivedAt, options)));
  const list = async (query: string, token = admin) => {
    const res = await t.app.inject({ url: `/api/ingest/rejects${query}`, headers: authHeader(token) });
    return { status: res.statusCode, body: res.json() as DeadLetterPage & { message?: string } };
  };

  beforeAll(async () => {
    t = await startTestApp();
    admin = (await signedInAs(t.app, t.db, 'admin')).token;
  });
  afterAll(() => t?.close());

  it('stores a backlog of a thousand bad reports as one row with its problems counted', async () => {
    const backlog = JSON.stringify(
      Array.from({ length: 1000 }, (_, i) => ({ v: 1, ts: now - i, lat: 'north', lon: 121.47, seq: i })),
    );
    expect(backlog.length).toBeGreaterThan(40_000);
    await store(`devices/${device}/telemetry`, backlog);

    const { rows } = await t.db.query<{ n: number }>(
      'select count(*)::int as n from ingest_rejects where device_id = $1',
      [device],
    );
    expect(rows[0]!.n).toBe(1);
    const { status, body } = await list(`?device=${device}`);
    expect(status).toBe(200);
    expect(body.rejects).toHaveLength(1);
    expect(body.rejects[0]).toMatchObject({
      deviceId: device,
      topic: `devices/${device}/telemetry`,
      reason: 'schema',
      reasons: { schema: 1000 },
      payloadBytes: backlog.length,
      payload: backlog.slice(0, 1024),
    });
    expect(body.rejects[0]!.examples).toHaveLength(5);
    expect(body.rejects[0]!.examples[0]).toMatch(/^report 0: lat/);
  });

  it('keeps a payload with NUL bytes as a dead letter instead of failing the batch', async () => {
    // JSON.parse quotes the bad text in its message; PostgreSQL refuses a NUL in text, and a batch
    // that cannot be written is retried forever, holding up every box's reports behind it.
    const nul = `${device}NUL`;
    await store(`devices/${nul}/telemetry`, '\u0000{"v":1}');
    const { body } = await list(`?device=${nul}`);
    expect(body.rejects).toHaveLength(1);
    expect(body.rejects[0]).toMatchObject({ reason: 'malformed_json', payload: '{"v":1}', payloadBytes: 8 });
    expect(body.rejects[0]!.examples[0]).not.toContain('\u0000');
  });

  it('filters by device, reason and time, and pages newest first', async () => {
    const other = `${device}B`;
    await store(`devices/${other}/telemetry`, '{"v":1,"ts":', now - 3 * DAY);
    await store(`devices/${other}/status`, 'sleeping', now - 2 * DAY);
    await store(
      `devices/${other}/telemetry`,
      JSON.stringify({ v: 1, ts: now + DAY, lat: 1, lon: 2 }),
      now - DAY,
    );

    const all = await list(`?device=${other}`);
    expect(all.body.rejects.map((r) => r.reason)).toEqual(['future_time', 'schema', 'malformed_json']);
    expect((await list(`?device=${other}&reason=malformed_json`)).body.rejects.map((r) => r.reason)).toEqual([
      'malformed_json',
    ]);
    const since = new Date(now - 2.5 * DAY).toISOString();
    const until = new Date(now - 1.5 * DAY).toISOString();
    expect(
      (await list(`?device=${other}&since=${since}&until=${until}`)).body.rejects.map((r) => r.reason),
    ).toEqual(['schema']);

    const first = await list(`?device=${other}&limit=2`);
    expect(first.body.rejects).toHaveLength(2);
    expect(first.body.next).not.toBeNull();
    const second = await list(`?device=${other}&limit=2&before=${first.body.next}`);
    expect(second.body.rejects.map((r) => r.reason)).toEqual(['malformed_json']);
    expect(second.body.next).toBeNull();
  });

  it('answers bad filters with 400 and other roles with 403', async () => {
    const since = new Date(now).toISOString();
    const until = new Date(now - DAY).toISOString();
    expect(await list(`?since=${since}&until=${until}`)).toMatchObject({
      status: 400,
      body: { message: 'since must be before until' },
    });
    expect((await list('?since=yesterday')).status).toBe(400);
    expect((await list('?reason=DROP%20TABLE')).status).toBe(400);
    expect((await list('?limit=100000')).status).toBe(400);
    for (const role of ['risk_manager', 'auditor', 'collector'] as const) {
      const { token } = await signedInAs(t.app, t.db, role);
      expect((await list('', token)).status, role).toBe(403);
    }
  });

  it('deletes dead letters older than the retention days, and keeps the rest', async () => {
    const old = `${device}OLD`;
    await store(`devices/${old}/telemetry`, 'not json', now - 31 * DAY);
    await store(`devices/${old}/telemetry`, 'not json either', now - 29 * DAY);
    const job = startDeadLetterRetention({
      db: t.db,
      days: 30,
      logger: pino({ level: 'silent' }),
      now: () => now,
    });
    try {
      await job.run();
      const left = await list(`?device=${old}`);
      expect(left.body.rejects.map((r) => r.payload)).toEqual(['not json either']);
    } finally {
      job.stop();
    }
    const keepAll = startDeadLetterRetention({
      db: t.db,
      days: 0,
      logger: pino({ level: 'silent' }),
      now: () => now + 365 * DAY,
    });
    keepAll.stop();
    expect(await keepAll.run()).toBe(0);
    expect((await list(`?device=${old}`)).body.rejects).toHaveLength(1);
  });
});
