/** Starts the real platform for a test file on the engines the environment selects. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDemoUsers } from '../../api/auth/demo-users.ts';
import { assignDemoAgent } from '../../api/contracts/demo-assignments.ts';
import { type Platform, startPlatform } from '../../main.ts';

/** What startPlatform takes besides its configuration: the clock, for tests that drive it. */
type PlatformDeps = NonNullable<Parameters<typeof startPlatform>[2]>;

import type { Config } from '../../shared/config.ts';
import { TEST_JWT_SECRET } from './auth.ts';
import { forgetSessions, uniqueIngestIdentity } from './broker-sessions.ts';
import { scratchDatabase, TEST_KEY_ENCRYPTION_KEY } from './engines.ts';
import { forgetRedisKeys, uniqueRedisPrefix } from './redis.ts';

export interface TestPlatform {
  /** The running instance; replaced by restart(). */
  current: Platform;
  readonly url: string;
  readonly mqttUrl: string;
  readonly db: Platform['db'];
  /** Stops and starts again on the same database and data folder. */
  restart(): Promise<Platform>;
  teardown(): Promise<void>;
}

export async function startTestPlatform(
  overrides: Partial<Config> = {},
  deps: PlatformDeps = {},
): Promise<TestPlatform> {
  // Embedded, the scratch database's folder is the platform's DATA_DIR (demo sign-ins included).
  const scratch = await scratchDatabase({ demoUsers: true });
  const dataDir = scratch.dataDir ?? mkdtempSync(join(tmpdir(), 'rt-test-'));
  // The ingest worker's session and share group belong to this run alone (test/support/broker-sessions.ts).
  const ingest = uniqueIngestIdentity('ingest-test');
  const config: Partial<Config> = {
    PORT: 0,
    MQTT_PORT: 0,
    SIM_DEVICES: 0,
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    DATABASE_URL: scratch.url,
    INGEST_CLIENT_ID: ingest.clientId,
    INGEST_SHARE_GROUP: ingest.shareGroup,
    // With REDIS_URL, this platform's keys (and its live feed's share group) are its own.
    REDIS_KEY_PREFIX: uniqueRedisPrefix(),
    // PostgreSQL needs a configured secret; embedded, the platform makes and keeps its own.
    ...(scratch.url ? { JWT_SECRET: TEST_JWT_SECRET, KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY } : {}),
    ...overrides,
  };
  let current: Platform | null = null;
  const cleanup = async () => {
    await scratch.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    current = await startPlatform(config, process.env, deps);
  } catch (e) {
    await cleanup();
    throw e;
  }
  const t: TestPlatform = {
    current,
    get url() {
      return t.current.url ?? '';
    },
    get mqttUrl() {
      return t.current.mqttUrl;
    },
    get db() {
      return t.current.db;
    },
    async restart() {
      await t.current.stop();
      t.current = await startPlatform(config, process.env, deps);
      return t.current;
    },
    async teardown() {
      try {
        await t.current.stop();
        // Forget the worker's persistent session so the broker stops keeping (and queueing for) it.
        const { MQTT_URL, MQTT_USERNAME, MQTT_PASSWORD, ROLES, INGEST_CLIENT_ID } = t.current.config;
        if (MQTT_URL && ROLES.includes('ingest')) {
          await forgetSessions(MQTT_URL, [INGEST_CLIENT_ID ?? ingest.clientId], {
            username: MQTT_USERNAME,
            password: MQTT_PASSWORD,
          });
        }
      } finally {
        const { REDIS_URL, REDIS_KEY_PREFIX } = t.current.config;
        if (REDIS_URL) await forgetRedisKeys(REDIS_URL, REDIS_KEY_PREFIX).catch(() => {});
        await cleanup();
      }
    },
  };
  return t;
}

/**
 * The demo as `npm start` makes it, on either engine: embedded, the start made the demo sign-ins and
 * sent the demo agent to the fleet's stage-3 cases; on PostgreSQL it makes neither, so this does
 * both the same way (`npm run users -- demo`, then the demo's own assignment).
 */
export async function demoSignIns(platform: Platform): Promise<void> {
  if (platform.config.DATABASE_URL === undefined) return;
  await ensureDemoUsers(platform.db);
  const { rows } = await platform.db.query<{ id: string }>('select id from contract');
  await assignDemoAgent(
    platform.db,
    rows.map((r) => r.id),
    Date.now(),
  );
}
