/**
 * The request rate limits on two api nodes sharing one Redis (REDIS_URL): one budget between them,
 * not one each. Two api processes' worth of platform (ROLES=api) on one scratch PostgreSQL
 * database, started as main.ts starts them, with a sign-in budget of 4 a minute: ten sign-ins, turn
 * about on the two nodes, get four answers and six 429s. The counts live under this run's own
 * REDIS_KEY_PREFIX, so other runs on the same Redis neither see nor touch them.
 *
 * Needs Redis and PostgreSQL (REDIS_URL, DATABASE_URL): two api nodes cannot share an embedded
 * database. Skipped without them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform } from '../../main.ts';
import { TEST_JWT_SECRET } from '../support/auth.ts';
import {
  realDatabase,
  type ScratchDatabase,
  scratchDatabase,
  TEST_KEY_ENCRYPTION_KEY,
} from '../support/engines.ts';

const redisUrl = process.env.REDIS_URL || undefined;

describe.skipIf(!redisUrl || !realDatabase)('request rate limits on two api nodes sharing Redis', () => {
  const prefix = `test-${randomBytes(6).toString('hex')}`;
  let scratch: ScratchDatabase;
  let redis: Redis;
  const dataDirs: string[] = [];
  const nodes: Platform[] = [];

  beforeAll(async () => {
    scratch = await scratchDatabase();
    redis = new Redis(redisUrl!);
    for (let i = 0; i < 2; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), 'rt-limits-'));
      dataDirs.push(dataDir);
      nodes.push(
        await startPlatform({
          ROLES: ['api'],
          PORT: 0,
          MQTT_PORT: 0,
          SIM_DEVICES: 0,
          LOG_LEVEL: 'silent',
          DATA_DIR: dataDir,
          DATABASE_URL: scratch.url,
          JWT_SECRET: TEST_JWT_SECRET,
          KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY,
          REDIS_URL: redisUrl,
          REDIS_KEY_PREFIX: prefix,
          RATE_LIMIT_SIGN_IN: { max: 4, windowSeconds: 60 },
          // Only the request limit answers 429 here, not the password throttle.
          LOGIN_MAX_FAILURES: 0,
          LOGIN_MAX_FAILURES_PER_ADDRESS: 0,
        }),
      );
    }
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop();
    const keys = await redis?.keys(`${prefix}:*`);
    if (keys?.length) await redis.del(...keys);
    redis?.disconnect();
    await scratch?.drop();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  });

  const signIn = async (node: Platform) => {
    const res = await fetch(`${node.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'nobody', password: 'not the password' }),
    });
    return { status: res.status, body: (await res.json()) as { message?: string } };
  };

  it('ten sign-ins from one address, turn about on two nodes: four answered, six refused', async () => {
    const answers = [];
    for (let i = 0; i < 10; i++) answers.push(await signIn(nodes[i % 2]!));
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 429, 429, 429, 429, 429, 429]);
    expect(answers[4]!.body.message).toMatch(/^too many requests: try again in/);
    // Counted under this deployment's prefix.
    expect(await redis.keys(`${prefix}:rate-limit:*`)).toHaveLength(1);
  });
});
