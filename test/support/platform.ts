/** Starts the real platform for a test file on the engines the environment selects. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { type Platform, startPlatform } from '../../main.ts';
import type { Config } from '../../shared/config.ts';
import { realBroker, scratchDatabase } from './engines.ts';

export interface TestPlatform extends Platform {
  dataDir: string;
  teardown(): Promise<void>;
}

export async function startTestPlatform(overrides: Partial<Config> = {}): Promise<TestPlatform> {
  const scratch = await scratchDatabase();
  const dataDir = mkdtempSync(join(tmpdir(), 'rt-test-'));
  const ingestClientId = `ingest-test-${process.pid}-${Date.now()}`;
  const platform = await startPlatform({
    PORT: 0,
    MQTT_PORT: 0,
    SIM_DEVICES: 0,
    LOG_LEVEL: 'silent',
    DATA_DIR: dataDir,
    DATABASE_URL: scratch.url,
    INGEST_CLIENT_ID: ingestClientId,
    ...overrides,
  });
  return {
    ...platform,
    dataDir,
    async teardown() {
      await platform.stop();
      if (realBroker) {
        // Forget the test worker's persistent session so the shared broker stops queueing for it.
        const c = await mqtt.connectAsync(realBroker, { clientId: ingestClientId, clean: true });
        await c.endAsync();
      }
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
