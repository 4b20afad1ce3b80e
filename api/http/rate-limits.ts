/**
 * Limits on the routes that cost the most: sign-in (a password hash, ~0.5 s of CPU, whether the
 * password is right or not), contract and payment imports (thousands of rows in one transaction),
 * and track queries and exports (a month of fixes as GeoJSON, GPX or KML). A route says which
 * budget it draws on — `config: { limit: 'tracks' }` — and one hook installs the limiter, as with
 * `access`. Counted per signed-in user, per client address on sign-in (LOGIN_PROXY_HOPS tells it
 * which address). The password throttle (api/auth/throttle.ts) still counts failures per name; this
 * caps attempts of any kind.
 *
 * Where the counts live: in process (@fastify/rate-limit's memory store) on one api node; with
 * REDIS_URL in Redis (the plugin's own Redis store, on the node's ioredis connection), so that
 * several api nodes behind a load balancer allow one budget between them, not one each. The
 * plugin's store counts with one Lua script per request (INCR, and the window's expiry on the
 * first), atomic in Redis whichever node asks. Keys are `<REDIS_KEY_PREFIX>:rate-limit:…`.
 */
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Redis } from 'ioredis';
import { clientAddress } from '../auth/throttle.ts';

export const LIMITED_ROUTES = ['signIn', 'imports', 'tracks'] as const;
export type LimitedRoutes = (typeof LIMITED_ROUTES)[number];

/** At most `max` requests per `windowSeconds`; max 0 switches the limit off. */
export interface Budget {
  max: number;
  windowSeconds: number;
}

export type RateLimits = Record<LimitedRoutes, Budget>;

export const DEFAULT_RATE_LIMITS: RateLimits = {
  signIn: { max: 30, windowSeconds: 60 },
  imports: { max: 10, windowSeconds: 60 },
  tracks: { max: 120, windowSeconds: 60 },
};

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The budget of requests this route draws on (api/http/rate-limits.ts). */
    limit?: LimitedRoutes;
  }
}

export interface RateLimitOptions {
  limits?: Partial<RateLimits> | undefined;
  /** Reverse proxies in front of the api (LOGIN_PROXY_HOPS): which X-Forwarded-For entry is the client. */
  proxyHops?: number | undefined;
  /**
   * Counts in Redis, shared by every api node (REDIS_URL), under `<keyPrefix>:rate-limit:`;
   * absent: in this process.
   */
  redis?: { client: Redis; keyPrefix: string } | undefined;
}

/** Call before any route is registered: the hook only sees routes registered after it. */
export async function installRateLimits(app: FastifyInstance, options: RateLimitOptions = {}): Promise<void> {
  const limits: RateLimits = { ...DEFAULT_RATE_LIMITS, ...options.limits };
  const hops = options.proxyHops ?? 0;
  await app.register(fastifyRateLimit, {
    global: false,
    ...(options.redis
      ? {
          redis: options.redis.client,
          nameSpace: `${options.redis.keyPrefix}:rate-limit:`,
          // A Redis that answers with an error lets the request through rather than failing it:
          // the limits guard against floods, and sign-in keeps the database's own throttle.
          skipOnError: true,
        }
      : {}),
    errorResponseBuilder: (_request, context) => ({
      statusCode: context.statusCode,
      message: `too many requests: try again in ${context.after}`,
    }),
  });
  const address = (request: FastifyRequest) =>
    clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], hops) ?? 'unknown';
  const limiters = new Map<LimitedRoutes, onRequestHookHandler>();
  for (const name of LIMITED_ROUTES) {
    const { max, windowSeconds } = limits[name];
    if (max === 0) continue;
    limiters.set(
      name,
      app.rateLimit({
        max,
        timeWindow: windowSeconds * 1000,
        groupId: name,
        // Signed-in routes count per user: a whole office behind one address shares nothing.
        keyGenerator: (request) => `${name}:${request.user ? `user:${request.user.id}` : address(request)}`,
      }) as onRequestHookHandler,
    );
  }
  app.addHook('onRoute', (route) => {
    const name = route.config?.limit;
    if (name === undefined) return;
    const limiter = limiters.get(name);
    if (!limiter) return;
    const own = route.onRequest === undefined ? [] : [route.onRequest].flat();
    route.onRequest = [...own, limiter];
  });
}
