/**
 * The HTTP app as a function of its dependencies: tests build it with a database and call it with
 * inject; main.ts adds the listener, socket.io and the built web app.
 */
import { existsSync } from 'node:fs';
import fastifyCompress from '@fastify/compress';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/client.ts';
import type { AlertView } from '../shared/alerts.ts';
import type { StageChange } from '../shared/live.ts';
import { type PolicyProfile, PROFILES } from '../shared/policy.ts';
import { alertRoutes } from './alerts/routes.ts';
import { appendAudit } from './audit/log.ts';
import { auditRoutes } from './audit/routes.ts';
import { installAccessControl } from './auth/access.ts';
import { authRoutes } from './auth/routes.ts';
import { installScopeCheck } from './auth/scope-check.ts';
import type { Auth } from './auth/service.ts';
import { userRoutes } from './auth/user-routes.ts';
import type { Dispatcher } from './commands/dispatcher.ts';
import { type CommandFeed, commandFeed } from './commands/feed.ts';
import { commandRoutes } from './commands/routes.ts';
import { caseRoutes } from './contracts/case-routes.ts';
import { contractRoutes } from './contracts/routes.ts';
import { deadLetterRoutes } from './dead-letters/routes.ts';
import { deviceRoutes } from './devices/routes.ts';
import { geoRoutes } from './geo/routes.ts';
import { refuseControlCharacters } from './http/control-characters.ts';
import { errorHandler } from './http/errors.ts';
import { type HealthProbe, healthRoutes } from './http/health.ts';
import { metricsRoutes } from './http/metrics.ts';
import { registerOpenApi } from './http/openapi.ts';
import { installRateLimits, type RateLimitOptions } from './http/rate-limits.ts';
import { installSecurityHeaders } from './http/security-headers.ts';
import { configRoutes } from './map/config-routes.ts';
import { mapRoutes } from './map/routes.ts';

export interface AppOptions {
  db: Database;
  /** Sign-in and token checks (api/auth/service.ts); every /api route declares its access. */
  auth: Auth;
  logger: Logger;
  health: HealthProbe;
  mapStyleUrl?: string | undefined;
  /** Folder of the built web app (vite build); skipped when absent. */
  webRoot?: string | undefined;
  /** Budgets of the expensive routes (api/http/rate-limits.ts); defaults when absent. */
  rateLimits?: RateLimitOptions | undefined;
  /** Served at GET /metrics (Prometheus text format) when given. */
  metrics?: Registry | undefined;
  /** The bearer token /metrics requires (METRICS_TOKEN); open without one. */
  metricsToken?: string | undefined;
  /** Serve the API description at /docs (API_DOCS); default true. */
  docs?: boolean | undefined;
  /** Reverse proxies in front of the api (LOGIN_PROXY_HOPS), for client addresses and HTTPS. */
  proxyHops?: number | undefined;
  /** The clock of the finance side (contract-local "today"); tests set it. */
  now?: (() => number) | undefined;
  /** Called with every stage change a write caused (main.ts announces them live). */
  onStageChanges?: ((changes: StageChange[]) => void) | undefined;
  /** Called with alerts a request changed (acknowledged); main.ts announces them live. */
  onAlerts?: ((alerts: AlertView[]) => void) | undefined;
  /** Remote commands: how writes are recorded and announced, the policy profile, the dispatcher. */
  commands?: { feed: CommandFeed; profile: PolicyProfile; dispatcher?: Dispatcher | undefined } | undefined;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // Per-request info lines would drown the log at fleet scale; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
  });
  // First, before any route: routes registered after this must declare config.access.
  installAccessControl(app, options.auth.authenticate);
  // Then what each signed-in user sees: ids outside their scope answer 404 (api/auth/scope-check.ts).
  installScopeCheck(app, options.db, options.now ?? Date.now);
  await installRateLimits(app, { proxyHops: options.proxyHops, ...options.rateLimits });
  await installSecurityHeaders(app, { mapStyleUrl: options.mapStyleUrl, proxyHops: options.proxyHops });

  app.setErrorHandler(errorHandler);
  refuseControlCharacters(app);

  // gzip/brotli for clients that ask (the fleet map is ~430 bytes a machine, ~52 compressed).
  await app.register(fastifyCompress, { threshold: 1024 });
  await registerOpenApi(app, { ui: options.docs ?? true });
  await app.register(authRoutes, { prefix: '/api', auth: options.auth });
  await app.register(userRoutes, { prefix: '/api', db: options.db });
  await app.register(healthRoutes, { prefix: '/api', probe: options.health });
  await app.register(configRoutes, { prefix: '/api', mapStyleUrl: options.mapStyleUrl ?? null });
  await app.register(mapRoutes, { prefix: '/api', db: options.db });
  await app.register(commandRoutes, {
    prefix: '/api',
    db: options.db,
    now: options.now,
    feed: options.commands?.feed ?? commandFeed(options.db, () => {}, appendAudit),
    profile: options.commands?.profile ?? PROFILES.default!,
    dispatcher: options.commands?.dispatcher,
  });
  await app.register(contractRoutes, {
    prefix: '/api',
    db: options.db,
    now: options.now,
    onStageChanges: options.onStageChanges,
  });
  await app.register(caseRoutes, { prefix: '/api', db: options.db });
  await app.register(deviceRoutes, { prefix: '/api', db: options.db });
  await app.register(auditRoutes, { prefix: '/api', db: options.db });
  await app.register(deadLetterRoutes, { prefix: '/api', db: options.db });
  await app.register(alertRoutes, {
    prefix: '/api',
    db: options.db,
    now: options.now,
    onAlerts: options.onAlerts,
  });
  await app.register(geoRoutes, { prefix: '/api', db: options.db, now: options.now });
  if (options.metrics)
    await app.register(metricsRoutes, { registry: options.metrics, token: options.metricsToken });

  app.setNotFoundHandler((request, reply) => {
    if (request.url.startsWith('/api/'))
      return reply.status(404).send({ message: `no route ${request.method} ${request.url}` });
    // Client-side routes of the single-page app fall back to its index.
    if (options.webRoot && existsSync(`${options.webRoot}/index.html`)) return reply.sendFile('index.html');
    return reply.status(404).send({ message: 'web app not built: run npm run build:web' });
  });
  if (options.webRoot && existsSync(options.webRoot)) {
    await app.register(fastifyStatic, { root: options.webRoot, wildcard: false });
  }
  return app;
}
