/**
 * The live map through a Redis outage (real Mosquitto and PostgreSQL, and a Redis of the test's
 * own, which it crashes and starts again empty): browsers stay connected; what is fed while Redis
 * is away is held, not lost, and reaches the browser on the other node once Redis is back; the
 * feed then goes on as before. Requests that draw on a rate limit are answered meanwhile, uncounted.
 * An api node can stop while Redis is away.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Platform } from '../../main.ts';
import type { ServerToClientEvents } from '../../shared/live.ts';
import { signedInAs } from '../support/auth.ts';
import { realBroker, realDatabase } from '../support/engines.ts';
import { type LiveCluster, reportFrom, startLiveCluster } from '../support/live-cluster.ts';
import { hasRedisServer, type OwnRedis, startOwnRedis } from '../support/redis-server.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const d = {
  deviceId: `LO${run}`,
  token: `token-live-outage-${run}`.padEnd(32, '0'),
  machine: {
    id: `MLO${run}`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `PLO${run}`,
    year: 2021,
  },
};

describe.skipIf(!(realBroker && realDatabase && hasRedisServer))('live map through a Redis outage', () => {
  let redis: OwnRedis;
  let cluster: LiveCluster;
  let socket: Socket<ServerToClientEvents>;
  const heard: string[] = [];

  beforeAll(async () => {
    redis = await startOwnRedis();
    cluster = await startLiveCluster(2, { REDIS_URL: redis.url });
    await provisionDevices(cluster.ingest.db, [d]);
    const b = cluster.nodes[1] as Platform;
    const { token } = await signedInAs(b.url as string, cluster.ingest.db, 'collector');
    socket = io(b.url as string, { transports: ['websocket'], auth: { token } });
    socket.on('machines:update', (f) => heard.push(...f.map((x) => x.properties.lastSeen)));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
  });
  afterAll(async () => {
    socket?.close();
    await cluster?.stop();
    await redis?.stop();
  });

  it('holds what is fed while Redis is away and delivers it when Redis is back', async () => {
    let ts = Date.now() - 600_000;
    const report = () => {
      ts += 1000;
      return reportFrom(cluster.ingest.mqttUrl, d, ts);
    };
    const before = await report();
    await waitFor(async () => heard.includes(before), { what: 'a push before the outage' });

    await redis.crash();
    const fedBefore = await cluster.fed('items');
    const during = await report();
    // Fed on one node while Redis is away: counted there, not yet anyone's.
    await waitFor(async () => (await cluster.fed('items')) > fedBefore, {
      what: 'the feed during the outage',
    });
    expect(heard).not.toContain(during);
    expect(socket.connected).toBe(true);

    await redis.start();
    await waitFor(async () => heard.includes(during), { what: 'the held push, once Redis is back' });
    const after = await report();
    await waitFor(async () => heard.includes(after), { what: 'a push after the outage' });
    expect(socket.connected).toBe(true);
  });

  it('answers a request that draws on a rate limit while Redis is away, uncounted', async () => {
    await redis.crash();
    const b = cluster.nodes[1] as Platform;
    // Sign-in draws on the signIn budget, counted in Redis: with Redis away the count fails at
    // once and the request goes on (a wrong password: 401), rather than waiting for Redis.
    const answer = await fetch(`${b.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'collector', password: 'not the password' }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(answer.status).toBe(401);
    await redis.start();
  });

  it('lets an api node stop while Redis is away', async () => {
    await redis.crash();
    // Resolves (the test would time out otherwise): nothing waits on Redis to stop.
    await (cluster.nodes[0] as Platform).stop();
    await redis.start();
  });
});
