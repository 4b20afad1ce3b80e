/**
 * The api node's Redis connection (REDIS_URL): what several api nodes share — the live map's
 * socket.io adapter and the request rate limits' counts. ioredis, because both the socket.io
 * Redis Streams adapter and @fastify/rate-limit take its client, and it reconnects by itself
 * (commands wait in its offline queue meanwhile, so a short Redis outage delays, not fails).
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisLink {
  client: Redis;
  close(): Promise<void>;
}

export async function openRedis(url: string, logger: Logger): Promise<RedisLink> {
  const client = new Redis(url, {
    lazyConnect: true,
    // Retry every command through a reconnect rather than failing it after 20 attempts.
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
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
