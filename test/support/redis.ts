/**
 * Redis in tests: the run's Redis (REDIS_URL, set by the real-services run) is shared by every test
 * file and run on the machine, so each platform gets a key prefix of its own (REDIS_KEY_PREFIX) and
 * removes its keys afterwards — the live map's stream and sessions, the rate limits' counts.
 */
import { Redis } from 'ioredis';
import { runUnique } from './broker-sessions.ts';

export const realRedis = process.env.REDIS_URL || undefined;

/** A REDIS_KEY_PREFIX no other run uses (the api nodes of one test share it). */
export const uniqueRedisPrefix = (name = 'rt') => runUnique(name);

/** Deletes every key under `prefix` (SCAN, so the shared Redis is never blocked). */
export async function forgetRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
