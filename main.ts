/**
 * The composition root: reads the configuration and starts the roles this process hosts, one start
 * function each. With nothing configured it is the whole platform in one process (embedded broker
 * and database, ingest, api with the web app, a simulated fleet); in production each role runs on
 * its own (ROLES=api, ROLES=ingest) against Mosquitto and PostgreSQL/TimescaleDB.
 */
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { DEMO_PASSWORD } from './api/auth/demo-users.ts';
import { loadOrCreateSecret, SIM_TOKEN_KEY_FILE } from './api/auth/secret.ts';
import { assignDemoAgent } from './api/contracts/demo-assignments.ts';
import { saveContracts } from './api/contracts/store.ts';
import { provisionDevices } from './api/devices/store.ts';
import { startApi } from './api/start.ts';
import { startBroker } from './broker/start.ts';
import type { Database } from './db/client.ts';
import { onCredentialsChanged, verifyDeviceToken } from './db/devices.ts';
import { keyringFromConfig, openKeys } from './db/keys.ts';
import { openMigratedDatabase } from './db/migrate.ts';
import { opsHealth, startOpsServer } from './ingest/http.ts';
import { ingestSettings, startIngest } from './ingest/worker.ts';
import { type Config, ConfigError, demoSignInsOpen, loadConfig, type ProcessRole } from './shared/config.ts';
import { startDemoFleet, tryByHand } from './simulators/demo-fleet.ts';

export interface Platform {
  config: Config;
  /** http://host:port of the api, or of the ops server of a process without it. */
  url: string | null;
  mqttUrl: string;
  db: Database;
  logger: Logger;
  /** Example credentials of one simulated device, for trying the broker by hand. */
  exampleDevice: { deviceId: string; token: string } | null;
  /** Usernames of the demo sign-ins (password "demo"); empty when DATABASE_URL is set. */
  demoUsers: string[];
  /** One full command dispatcher pass; null without the api. */
  dispatchPass: (() => Promise<void>) | null;
  stop(): Promise<void>;
}

/** Besides the configuration: the clock expiries and schedules read, and the web bundle served. */
export type PlatformDeps = { now?: () => number; webRoot?: string };
const WEB_ROOT = fileURLToPath(new URL('./web/dist/', import.meta.url));

export async function startPlatform(
  overrides: Partial<Config> = {},
  env = process.env,
  { now, webRoot = WEB_ROOT }: PlatformDeps = {},
): Promise<Platform> {
  const config = loadConfig(env, overrides);
  const logger = pino({ level: config.LOG_LEVEL, base: { pid: process.pid } });
  const has = (role: ProcessRole) => config.ROLES.includes(role);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch((e) => logger.error({ err: e }, 'stop failed'));
  };
  // One Prometheus registry per platform, not prom-client's global one (several platforms per process).
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  try {
    const db = await openMigratedDatabase(config, logger);
    stops.push(() => db.close());
    // The keys that open the database's secrets (none for an ingest-only process on PostgreSQL).
    const ring = keyringFromConfig(config);
    if (ring) await openKeys(db, ring);
    const broker = await startBroker(config, {
      db,
      logger,
      metrics,
      verifyDevice: (deviceId, token) => verifyDeviceToken(db, deviceId, token),
      onCredentialsChanged: (listener) => onCredentialsChanged(db, listener),
    });
    stops.push(() => broker.stop());
    const { url: mqttUrl, embedded, service } = broker;
    const ingest = has('ingest')
      ? await startIngest({
          db,
          mqttUrl,
          ...service,
          ...ingestSettings(config, embedded),
          logger: logger.child({ role: 'ingest' }),
          metrics,
          now,
        })
      : null;
    if (ingest) stops.push(() => ingest.stop());
    const api = has('api')
      ? await startApi(config, { db, mqttUrl, service, logger, metrics, webRoot, now })
      : null;
    if (api) stops.push(() => api.stop());
    // Without the api, /metrics and /health still have a home (Prometheus, the orchestrator).
    const ops = api
      ? null
      : await startOpsServer({
          port: config.PORT,
          host: config.HOST,
          metrics,
          metricsToken: config.METRICS_TOKEN,
          healthy: () => opsHealth(db, ingest),
        });
    if (ops) stops.push(() => ops.close());
    const fleet =
      has('sim') && config.SIM_DEVICES > 0
        ? await startDemoFleet(config, {
            mqttUrl,
            logger: logger.child({ role: 'sim' }),
            tokenKey: config.SIM_TOKEN_KEY ?? loadOrCreateSecret(config.DATA_DIR, SIM_TOKEN_KEY_FILE),
            provision: (devices) => provisionDevices(db, devices),
            saveContracts: async (contracts, asOf) => {
              await saveContracts(db, contracts, asOf, 'demo');
              // Where the demo sign-ins exist, the demo agent works the stage-3 cases, like a real one.
              if (api && api.demoUsers.length > 0) {
                await assignDemoAgent(
                  db,
                  contracts.map((c) => c.id),
                  (now ?? Date.now)(),
                );
              }
            },
          })
        : null;
    if (fleet) stops.push(() => fleet.stop());
    const url = api?.url ?? ops?.url ?? null;
    const [demoUsers, dispatchPass] = api ? [api.demoUsers, api.dispatchPass] : [[], null];
    const exampleDevice = fleet?.example ?? null;
    return { config, url, mqttUrl, db, logger, exampleDevice, demoUsers, dispatchPass, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

function banner(p: Platform, startedMs: number): string {
  const lines = [
    `  Recovery telematics is up in ${(startedMs / 1000).toFixed(1)} s`,
    p.url ? `  Map:     ${p.url}` : '',
    `  MQTT:    ${p.mqttUrl}${p.config.MQTT_URL ? '' : ' (embedded broker)'}`,
    `  Database: ${p.config.DATABASE_URL ? 'PostgreSQL' : `embedded, in ${join(p.config.DATA_DIR, 'pgdata')}`}`,
    p.url && p.demoUsers.length > 0
      ? `  Sign in: ${p.demoUsers.join(', ')} (password "${DEMO_PASSWORD}"; see docs/security.md)`
      : '',
    p.config.SIM_DEVICES > 0 && p.config.ROLES.includes('sim')
      ? `  Fleet:   ${p.config.SIM_DEVICES} simulated machines`
      : '',
  ];
  if (p.exampleDevice) lines.push(...tryByHand(p.exampleDevice, p.mqttUrl));
  lines.push('  Ctrl-C stops (pending positions are flushed).');
  if (demoSignInsOpen(p.config)) lines.unshift(...demoPasswordsWarning(p.config.HOST));
  return lines.filter((l) => l !== '').join('\n');
}

/** DEMO_PASSWORDS=1 with an open HOST: said where nobody starting the platform can miss it. */
function demoPasswordsWarning(host: string): string[] {
  const rule = `  ${'!'.repeat(78)}`;
  return [
    rule,
    `  !! WARNING: listening on ${host} with the demo sign-ins (DEMO_PASSWORDS=1):`,
    '  !! anyone who reaches this machine can sign in as admin, risk1 or risk2 with "demo"',
    '  !! and send GPS stops. Only for a demonstration on a network you trust.',
    rule,
  ];
}

async function main(): Promise<void> {
  const started = performance.now();
  let platform: Platform;
  try {
    platform = await startPlatform();
  } catch (e) {
    process.stderr.write(`\n${(e as Error).message}\n\n`);
    process.exit(e instanceof ConfigError ? 2 : 1);
  }
  process.stdout.write(`${banner(platform, performance.now() - started)}\n`);
  if (demoSignInsOpen(platform.config)) {
    platform.logger.warn(
      { host: platform.config.HOST },
      'demo sign-ins open to the network (DEMO_PASSWORDS=1)',
    );
  }
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      platform.logger.info({ signal }, 'stopping');
      void platform.stop().then(() => process.exit(0));
    });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
