/**
 * The api role: the HTTP app with the built web app, socket.io live updates, the command
 * dispatcher, the silence check and the daily stage refresh, all on one database and one broker
 * connection. The counterpart of ingest's startIngest: configuration and dependencies in, a handle
 * with stop() out.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/client.ts';
import type { AlertView } from '../shared/alerts.ts';
import { type Config, connectHost, isEmbeddedDatabase, servesApiDocs } from '../shared/config.ts';
import {
  LIVE_ALERTS_TOPIC,
  LIVE_COMMANDS_TOPIC,
  LIVE_STAGES_TOPIC,
  type StageChange,
} from '../shared/live.ts';
import { startSilenceCheck } from './alerts/silence.ts';
import { buildApp } from './app.ts';
import { appendAudit } from './audit/log.ts';
import { DEMO_USERS, ensureDemoUsers } from './auth/demo-users.ts';
import { loadOrCreateSecret } from './auth/secret.ts';
import { createAuth } from './auth/service.ts';
import { loginThrottleFrom } from './auth/throttle.ts';
import { createTokens } from './auth/tokens.ts';
import { startDispatcher, statusShareGroupOf } from './commands/dispatcher.ts';
import { commandFeed } from './commands/feed.ts';
import { configuredProfile } from './commands/service.ts';
import { startDailyRefresh } from './contracts/scheduler.ts';
import { wrapPlainKeys } from './devices/keys.ts';
import { attachLive, liveShareGroup } from './map/live.ts';
import { openRedis, type RedisLink } from './redis.ts';

export interface ApiDeps {
  db: Database;
  mqttUrl: string;
  /** The service account the api connects to the broker with. */
  service: { username?: string | undefined; password?: string | undefined };
  logger: Logger;
  /** Served at GET /metrics. */
  metrics: Registry;
  /** Folder of the built web app; skipped when absent. */
  webRoot?: string | undefined;
  /**
   * The clock command expiry, re-arming, the daily refresh and the silence check read (epoch ms);
   * tests drive it. Timers still tick in real time; sign-in sessions keep to the real clock.
   */
  now?: (() => number) | undefined;
}

export interface ApiHandle {
  /** http://host:port of the listener, as this machine reaches it. */
  url: string;
  /** Usernames of the demo sign-ins (password "demo"); empty when DATABASE_URL is set. */
  demoUsers: string[];
  /** One full pass of the command dispatcher, resolved when done: tests that expect nothing to happen. */
  dispatchPass(): Promise<void>;
  stop(): Promise<void>;
}

export async function startApi(config: Config, deps: ApiDeps): Promise<ApiHandle> {
  const { db, logger } = deps;
  const now = deps.now ?? Date.now;
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) {
      await s().catch((e) => logger.error({ err: e }, 'error while stopping'));
    }
  };
  try {
    // Demo sign-ins only on the embedded database; on PostgreSQL `npm run users -- demo` makes them.
    let demoUsers: string[] = [];
    if (config.DATABASE_URL === undefined) {
      await ensureDemoUsers(db);
      demoUsers = DEMO_USERS.map((u) => u.username);
    }
    // Command keys an older version stored in plain text are wrapped before any command is sent.
    const wrapped = await wrapPlainKeys(db);
    if (wrapped > 0) logger.warn({ wrapped }, 'wrapped command keys stored in plain text');
    // Unique per start: two api nodes in one process (tests) must not take each other's connection over.
    const clientId = `api-${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const apiMqtt = await connectService(deps.mqttUrl, deps.service, clientId);
    stops.push(() => apiMqtt.endAsync());
    // What several api nodes share (REDIS_URL): the live map's socket.io adapter, whose pushes wait
    // through a Redis outage, and the request limits' counts, which must not make a request wait.
    // Closed after the app and the live map (stops run in reverse).
    const redis: RedisLink | null = config.REDIS_URL
      ? await openRedis(config.REDIS_URL, logger.child({ role: 'redis' }))
      : null;
    if (redis) stops.push(() => redis.close());
    const limitCounts: RedisLink | null = config.REDIS_URL
      ? await openRedis(config.REDIS_URL, logger.child({ role: 'redis-limits' }), 'failsFast')
      : null;
    if (limitCounts) stops.push(() => limitCounts.close());
    const tokens = createTokens({
      secret: config.JWT_SECRET ?? loadOrCreateSecret(config.DATA_DIR),
      ttlSeconds: config.JWT_TTL,
    });
    const auth = createAuth(db, tokens, { throttle: loginThrottleFrom(config) });
    // Stage changes go out on the broker, so the live feed (one api node) pushes them to every browser.
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
      now,
    });
    stops.push(() => silence.stop());
    // Remote commands: transitions announced on the broker like stage changes; the outbox
    // dispatcher runs in every api process (row locks keep them out of each other's way).
    const policy = configuredProfile(config.POLICY_PROFILE, config.COMMAND_TTL_SECONDS);
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
      now,
      onAlerts: announceAlerts,
      // On a real broker the api nodes of one database share the devices' status messages.
      statusShareGroup: config.MQTT_URL === undefined ? null : await statusShareGroupOf(db),
    });
    stops.push(() => dispatcher.stop());
    const embedded = config.MQTT_URL === undefined;
    if (config.METRICS_TOKEN === undefined && !isEmbeddedDatabase(config)) {
      logger.warn(
        'GET /metrics is off: set METRICS_TOKEN and give Prometheus that bearer token to scrape it',
      );
    }
    const app = await buildApp({
      commands: { feed, profile: policy, dispatcher },
      onStageChanges: announceStages,
      onAlerts: announceAlerts,
      db,
      auth,
      logger: logger.child({ role: 'api' }),
      mapStyleUrl: config.MAP_STYLE_URL,
      webRoot: deps.webRoot,
      // /metrics in production only with its token (docs/security.md); embedded it stays open.
      metrics: config.METRICS_TOKEN !== undefined || isEmbeddedDatabase(config) ? deps.metrics : undefined,
      metricsToken: config.METRICS_TOKEN,
      docs: servesApiDocs(config),
      proxyHops: config.LOGIN_PROXY_HOPS,
      rateLimits: {
        limits: {
          signIn: config.RATE_LIMIT_SIGN_IN,
          imports: config.RATE_LIMIT_IMPORTS,
          tracks: config.RATE_LIMIT_TRACKS,
        },
        redis: limitCounts ? { client: limitCounts.client, keyPrefix: config.REDIS_KEY_PREFIX } : undefined,
      },
      now,
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
    const live = attachLive(app.server, {
      db,
      mqtt: apiMqtt,
      logger,
      cluster: redis ? { redis: redis.client, keyPrefix: config.REDIS_KEY_PREFIX } : null,
      // One node per announcement needs both a broker with $share and Redis to reach the others' sockets.
      shareGroup: redis && !embedded ? liveShareGroup(config.REDIS_KEY_PREFIX) : null,
      metrics: deps.metrics,
      authenticate: auth.authenticate,
      onSessionsEnded: auth.onSessionsEnded,
      now,
    });
    const daily = startDailyRefresh({
      db,
      logger: logger.child({ role: 'api' }),
      onStageChanges: announceStages,
      now,
    });
    stops.push(() => daily.stop());
    stops.push(() => app.close());
    stops.push(() => live.close());
    await app.listen({ port: config.PORT, host: config.HOST }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EADDRINUSE'
        ? new Error(`HTTP port ${config.PORT} is already in use. Set PORT to a free port.`)
        : e;
    });
    const { port } = app.server.address() as { port: number };
    return {
      url: `http://${connectHost(config.HOST)}:${port}`,
      demoUsers,
      dispatchPass: () => dispatcher.pass(),
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function connectService(
  url: string,
  service: ApiDeps['service'],
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
