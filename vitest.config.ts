import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

// Three tiers: unit (pure, fast), integration (real broker + database, embedded unless
// MQTT_URL / DATABASE_URL are set), e2e (the whole platform in Chromium).
//
// All files of all three run side by side. Each file has its own database (a copy of a migrated
// template), its own broker identities and ports 0, so files never see each other; and most of an
// integration file's time is spent waiting on sockets, so a few more workers than cores keep the
// cores busy. TEST_WORKERS overrides the number.
const workers = Number(process.env.TEST_WORKERS) || Math.max(2, availableParallelism() + 1);
const WORKER_PROCESS_TESTS = [
  'test/integration/ingest-sigterm.test.ts',
  'test/integration/ingest-workers.test.ts',
];

export default defineConfig({
  test: {
    reporters: ['default', './test/support/slowest-files.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'shared/**/*.test.ts', 'web/**/*.test.{ts,tsx}'],
          // A simulated week or 10,000 generated scenarios take seconds, more on a busy machine.
          testTimeout: 30_000,
          maxWorkers: workers,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: WORKER_PROCESS_TESTS,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          maxWorkers: workers,
        },
      },
      {
        // Ingest worker processes killed and restarted mid-stream on the shared broker: run one file
        // at a time, after the others (two at once lost messages on Mosquitto now and then).
        test: {
          name: 'workers',
          include: WORKER_PROCESS_TESTS,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          maxWorkers: workers,
          globalSetup: ['./test/e2e/build-web.ts'],
        },
      },
    ],
  },
});
