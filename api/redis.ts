/**
 * The api node's Redis connections (REDIS_URL): what several api nodes share — the live map's
 * socket.io adapter and the request rate limits' counts, one connection each, since they want
 * opposite things of an outage (RedisMode). ioredis, because both the socket.io Redis Streams
 * adapter and @fastify/rate-limit take its client, and it reconnects by itself.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisLink {
  client: Redis;
  close(): Promise<void>;
}

/**
 * `waits`: commands wait through an outage and go out when Redis is back (the live map's adapter:
 * what is fed meanwhile is held, not lost). `failsFast`: a command fails at once while Redis is away
 * and within 500 ms when it does not answer (the request limits: a request must not hang on its
 * count; the limiter lets it through uncounted).
 */
export type RedisMode = 'waits' | 'failsFast';

export async function openRedis(url: string, logger: Logger, mode: RedisMode = 'waits'): Promise<RedisLink> {
  const client = new Redis(url, {
    lazyConnect: true,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
    ...(mode === 'waits'
      ? // Retry every command through a reconnect rather than failing it after 20 attempts.
        { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 0, enableOfflineQueue: false, commandTimeout: 500 }),
  });
  let down = false;
  client.on('error', (e: Error) => {
    if (!down) logger.warn({ err: e.message }, 'redis connection lost; retrying');
    down = true;
  });
  client.on('ready', () => {
    if (down) logger.info('redis connection back');
    down = false;
  });
  await client.connect();
  return {
    client,
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
