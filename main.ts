/**
 * The composition root: reads the configuration and starts the roles this process hosts. With
 * nothing configured it is the whole platform in one process (embedded broker and database, ingest,
 * api with the web app, a simulated fleet); in production each role runs on its own (ROLES=api,
 * ROLES=ingest) against Mosquitto and PostgreSQL/TimescaleDB.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { startSilenceCheck } from './alerts/silence.ts';
import { buildApp } from './api/app.ts';
import { appendAudit } from './api/audit/log.ts';
import { DEMO_PASSWORD, DEMO_USERS, ensureDemoUsers } from './api/auth/demo-users.ts';
import { loadOrCreateSecret } from './api/auth/secret.ts';
import { createAuth } from './api/auth/service.ts';
import { loginThrottleFrom } from './api/auth/throttle.ts';
import { createTokens } from './api/auth/tokens.ts';
import { startDispatcher } from './api/commands/dispatcher.ts';
import { commandFeed } from './api/commands/feed.ts';
import { profileNamed } from './api/commands/service.ts';
import { startDailyRefresh } from './api/contracts/scheduler.ts';
import { onCredentialsChanged, verifyDeviceToken } from './api/devices/registry.ts';
import { attachLive } from './api/live.ts';
import { type Credentials, startEmbeddedBroker } from './broker/embedded.ts';
import { passwordFileSync } from './broker/mosquitto-sync.ts';
import { type Database, openDatabase } from './db/client.ts';
import { migrate } from './db/migrate.ts';
import { startOpsServer } from './ingest/http.ts';
import { startIngest } from './ingest/worker.ts';
import type { AlertView } from './shared/alerts.ts';
import { type Config, configProblems, parseConfig } from './shared/config.ts';
import {
  LIVE_ALERTS_TOPIC,
  LIVE_COMMANDS_TOPIC,
  LIVE_STAGES_TOPIC,
  type StageChange,
} from './shared/live.ts';
import { startDemoFleet } from './simulators/demo-fleet.ts';

export interface Platform {
  config: Config;
  /** http://host:port of the api, when this process hosts it. */
  url: string | null;
  mqttUrl: string;
  db: Database;
  logger: Logger;
  /** Example credentials of one simulated device, for trying the broker by hand. */
  exampleDevice: { deviceId: string; token: string } | null;
  /** Usernames of the demo sign-ins (password "demo"); empty when DATABASE_URL is set. */
  demoUsers: string[];
  stop(): Promise<void>;
}

const WEB_ROOT = fileURLToPath(new URL('./web/dist/', import.meta.url));
const SERVICE_USER = 'svc-platform';

export async function startPlatform(overrides: Partial<Config> = {}, env = process.env): Promise<Platform> {
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new ConfigError(parsed.errors);
  const config: Config = { ...parsed.config, ...overrides };
  const problems = configProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const logger = pino({ level: config.LOG_LEVEL, base: { pid: process.pid } });
  const has = (role: Config['ROLES'][number]) => config.ROLES.includes(role);
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) {
      await stop().catch((e) => logger.error({ err: e }, 'error while stopping'));
    }
  };

  // One Prometheus registry per platform (never prom-client's global one, so tests and several
  // platforms in one process do not collide), served at GET /metrics by the api, or by the small
  // ops server of a process without the api (ingest/http.ts).
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });

  try {
    const db = await openDatabase({ url: config.DATABASE_URL, dataDir: join(config.DATA_DIR, 'pgdata') });
    stops.push(() => db.close());
    const applied = await migrate(db);
    if (applied.length > 0) logger.info({ applied }, 'migrations applied');
    // Retention is a job on TimescaleDB (db/migrations/004); plain PostgreSQL keeps every row.
    const { rows: retention } = await db.query<{ outcome: string }>(
      'select set_telemetry_retention($1) as outcome',
      [config.TELEMETRY_RETENTION_DAYS],
    );
    logger.info({ retentionDays: config.TELEMETRY_RETENTION_DAYS }, retention[0]?.outcome ?? 'retention set');

    if (config.MOSQUITTO_PASSWORD_FILE) {
      stops.push(await keepBrokerPasswordsInSync(db, config.MOSQUITTO_PASSWORD_FILE, logger));
    }

    // Demo sign-ins only on the embedded database; on PostgreSQL `npm run users -- demo` makes them.
    let demoUsers: string[] = [];
    if (config.DATABASE_URL === undefined) {
      await ensureDemoUsers(db);
      demoUsers = DEMO_USERS.map((u) => u.username);
    }

    // Services reach the broker with a service account: on the embedded broker a fresh random
    // password each run; on a real broker whatever MQTT_USERNAME/MQTT_PASSWORD say.
    const embedded = config.MQTT_URL === undefined;
    const service = embedded
      ? { username: SERVICE_USER, password: randomBytes(16).toString('hex') }
      : { username: config.MQTT_USERNAME, password: config.MQTT_PASSWORD };
    let mqttUrl = config.MQTT_URL ?? '';
    if (embedded) {
      const credentials: Credentials = {
        async verify(username, password) {
          if (username === service.username) {
            return password === service.password ? { kind: 'service', name: username } : null;
          }
          return (await verifyDeviceToken(db, username, password))
            ? { kind: 'device', deviceId: username }
            : null;
        },
      };
      const broker = await startEmbeddedBroker(config.MQTT_PORT, credentials);
      stops.push(() => broker.close());
      mqttUrl = broker.url;
    }

    let ingestConnected: (() => boolean) | null = null;
    if (has('ingest')) {
      const ingest = await startIngest({
        db,
        mqttUrl,
        username: service.username,
        password: service.password,
        clientId: config.INGEST_CLIENT_ID ?? `ingest-${embedded ? 'embedded' : hostname()}`,
        shareGroup: embedded ? null : config.INGEST_SHARE_GROUP,
        logger: logger.child({ role: 'ingest' }),
        maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
        maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
        maxBatch: config.INGEST_MAX_BATCH,
        metrics,
      });
      stops.push(() => ingest.stop());
      ingestConnected = ingest.connected;
    }

    let url: string | null = null;
    if (has('api')) {
      const apiMqtt = await connectService(mqttUrl, service, `api-${hostname()}-${process.pid}`);
      stops.push(() => apiMqtt.endAsync());
      const tokens = createTokens({
        secret: config.JWT_SECRET ?? loadOrCreateSecret(config.DATA_DIR),
        ttlSeconds: config.JWT_TTL,
      });
      const auth = createAuth(db, tokens, { throttle: loginThrottleFrom(config) });
      // Stage changes go out on the broker, so every api node pushes them to its browsers.
      const announceStages = (changes: StageChange[]) => {
        apiMqtt.publish(LIVE_STAGES_TOPIC, JSON.stringify(changes), { qos: 0 });
      };
      // Alerts too (acknowledged here, silent ones from the check below; ingest announces its own).
      const announceAlerts = (alerts: AlertView[]) => {
        apiMqtt.publish(LIVE_ALERTS_TOPIC, JSON.stringify(alerts), { qos: 0 });
      };
      const silence = startSilenceCheck({
        db,
        logger: logger.child({ role: 'alerts' }),
        onAlerts: announceAlerts,
      });
      stops.push(() => silence.stop());
      // Remote commands: transitions announced on the broker like stage changes; the outbox
      // dispatcher runs in every api process (row locks keep them out of each other's way).
      const named = profileNamed(config.POLICY_PROFILE);
      const policy = config.COMMAND_TTL_SECONDS
        ? { ...named, commandTtlMinutes: config.COMMAND_TTL_SECONDS / 60 }
        : named;
      const feed = commandFeed(
        db,
        (updates) => {
          apiMqtt.publish(LIVE_COMMANDS_TOPIC, JSON.stringify(updates), { qos: 0 });
        },
        appendAudit,
      );
      const dispatcher = startDispatcher({
        db,
        mqtt: apiMqtt,
        feed,
        profile: policy,
        logger: logger.child({ role: 'commands' }),
      });
      stops.push(() => dispatcher.stop());
      const app = await buildApp({
        commands: { feed, profile: policy, dispatcher },
        onStageChanges: announceStages,
        onAlerts: announceAlerts,
        db,
        auth,
        logger: logger.child({ role: 'api' }),
        mapStyleUrl: config.MAP_STYLE_URL,
        webRoot: WEB_ROOT,
        metrics,
        health: {
          broker: () => ({ connected: apiMqtt.connected, embedded }),
          async database() {
            try {
              await db.query('select 1');
              return { ok: true, engine: db.engine };
            } catch {
              return { ok: false, engine: db.engine };
            }
          },
        },
      });
      const live = attachLive(app.server, { db, mqtt: apiMqtt, logger, authenticate: auth.authenticate });
      const daily = startDailyRefresh({
        db,
        logger: logger.child({ role: 'api' }),
        onStageChanges: announceStages,
      });
      stops.push(() => daily.stop());
      stops.push(() => app.close());
      stops.push(() => live.close());
      await app.listen({ port: config.PORT, host: '0.0.0.0' }).catch((e: NodeJS.ErrnoException) => {
        throw e.code === 'EADDRINUSE'
          ? new Error(`HTTP port ${config.PORT} is already in use. Set PORT to a free port.`)
          : e;
      });
      const { port } = app.server.address() as { port: number };
      url = `http://localhost:${port}`;
    }

    // Without the api, /metrics and /health still have a home (Prometheus, the orchestrator).
    if (!has('api')) {
      const ops = await startOpsServer({
        port: config.PORT,
        metrics,
        async healthy() {
          const database = await db.query('select 1').then(
            () => true,
            () => false,
          );
          const broker = ingestConnected?.() ?? true;
          return { ok: database && broker, database, broker };
        },
      });
      stops.push(() => ops.close());
      url = ops.url;
    }

    let exampleDevice: Platform['exampleDevice'] = null;
    if (has('sim') && config.SIM_DEVICES > 0) {
      const fleet = await startDemoFleet({
        db,
        mqttUrl,
        devices: config.SIM_DEVICES,
        seed: config.SIM_SEED,
        idPrefix: config.SIM_ID_PREFIX,
        logger: logger.child({ role: 'sim' }),
      });
      stops.push(() => fleet.stop());
      exampleDevice = fleet.example;
    }

    return { config, url, mqttUrl, db, logger, exampleDevice, demoUsers, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/**
 * Writes the registry's devices to the broker's password file now, and again after every change in
 * the registry. A failure at start stops the process (a path that cannot be written is a
 * configuration error); a failure later is logged and leaves the previous file, whole, in place.
 */
async function keepBrokerPasswordsInSync(
  db: Database,
  path: string,
  logger: Logger,
): Promise<() => Promise<void>> {
  const sync = passwordFileSync(db, path);
  const first = await sync().catch((e: Error) => {
    throw new Error(`MOSQUITTO_PASSWORD_FILE: cannot write ${path}: ${e.message}`);
  });
  logger.info(first, 'broker password file written');
  const unsubscribe = onCredentialsChanged(db, async () => {
    try {
      const result = await sync();
      if (result.changed) logger.info(result, 'broker password file updated');
    } catch (e) {
      logger.error({ err: e, path }, 'broker password file not updated; npm run broker:sync retries');
    }
  });
  return async () => unsubscribe();
}

async function connectService(
  url: string,
  service: { username?: string | undefined; password?: string | undefined },
  clientId: string,
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, {
    clientId,
    username: service.username,
    password: service.password,
    reconnectPeriod: 1000,
  });
  client.on('error', () => {}); // reconnects on its own; health reports the state
  return client;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

function banner(p: Platform, startedMs: number): string {
  const lines = [
    '',
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
  if (p.exampleDevice) {
    const { deviceId, token } = p.exampleDevice;
    const port = new URL(p.mqttUrl).port;
    lines.push(
      '  Try a device by hand (docs/device-protocol.md):',
      `    mosquitto_pub -p ${port} -i ${deviceId} -u ${deviceId} -P ${token} -q 1 \\`,
      `      -t devices/${deviceId}/telemetry -m '{"v":1,"ts":'$(date +%s000)',"lat":31.23,"lon":121.47}'`,
    );
  }
  lines.push('  Ctrl-C stops (pending positions are flushed).', '');
  return lines.filter((l) => l !== '').join('\n');
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
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    platform.logger.info({ signal }, 'stopping');
    await platform.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
