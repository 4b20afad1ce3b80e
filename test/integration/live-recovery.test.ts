/**
 * Connection-state recovery of the live map: a browser whose connection dropped resumes its session
 * with the pushes it missed — on the same node (any engines: the in-memory adapter embedded, Redis
 * Streams with REDIS_URL), and through HAProxy on another node when its own went away (real
 * services with Redis and an haproxy binary) — but a token revoked meanwhile resumes nothing: no
 * missed push is written to it before the handshake is refused.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Platform } from '../../main.ts';
import type { ServerToClientEvents } from '../../shared/live.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName, realBroker, realDatabase } from '../support/engines.ts';
import {
  type Balancer,
  hasHaproxy,
  type NodeName,
  servedBy,
  startBalancer,
  stickyCookie,
} from '../support/haproxy.ts';
import { type LiveCluster, reportFrom, startLiveCluster } from '../support/live-cluster.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { realRedis } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const box = (n: number) => ({
  deviceId: `LR${run}-${n}`,
  token: `token-live-recovery-${run}-${n}`.padEnd(32, '0'),
  machine: {
    id: `MLR${run}-${n}`,
    make: 'XCMG',
    model: 'XE215',
    type: 'excavator',
    serial: `PLR${run}-${n}`,
    year: 2023,
  },
});

type LiveSocket = Socket<ServerToClientEvents>;

/** A browser's socket that does not reconnect by itself: the test says when. */
async function browser(url: string, token: string, options: Parameters<typeof io>[1] = {}) {
  const socket: LiveSocket = io(url, {
    transports: ['websocket'],
    auth: { token },
    reconnection: false,
    ...options,
  });
  const heard: string[] = [];
  socket.on('machines:update', (f) =>
    heard.push(...f.map((x) => `${x.properties.deviceId}@${x.properties.lastSeen}`)),
  );
  await connected(socket);
  return { socket, heard, saw: (deviceId: string, ts: string) => heard.includes(`${deviceId}@${ts}`) };
}
const connected = (socket: LiveSocket) =>
  new Promise<void>((resolve, reject) => {
    if (socket.connected) return resolve();
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
/** Drops the connection under the socket, as a network failure would (the server keeps the session). */
const dropConnection = async (socket: LiveSocket) => {
  const gone = new Promise((resolve) => socket.once('disconnect', resolve));
  socket.io.engine.close();
  await gone;
};

describe(`live session recovery on ${engineName}`, () => {
  let platform: TestPlatform;
  const d = box(1);
  const sockets: LiveSocket[] = [];
  let witness: Awaited<ReturnType<typeof browser>>;
  let ts = Date.now() - 600_000;
  /** A report, once a browser that never dropped has heard it (so it was pushed). */
  const pushed = async () => {
    ts += 1000;
    const at = await reportFrom(platform.mqttUrl, d, ts);
    await waitFor(async () => witness.saw(d.deviceId, at), { what: `the push of ${at}` });
    return at;
  };
  const open = async (token: string) => {
    const b = await browser(platform.url, token);
    sockets.push(b.socket);
    return b;
  };

  beforeAll(async () => {
    platform = await startTestPlatform();
    await provisionDevices(platform.db, [d]);
    witness = await open((await signedInAs(platform.url, platform.db, 'collector')).token);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await platform?.teardown();
  });

  it('resumes a dropped session with the pushes it missed', async () => {
    const c = await open((await signedInAs(platform.url, platform.db, 'collector')).token);
    const first = await pushed();
    await waitFor(async () => c.saw(d.deviceId, first), { what: 'the first push' });
    await dropConnection(c.socket);
    const missed = await pushed();
    c.socket.connect();
    await connected(c.socket);
    expect(c.socket.recovered).toBe(true);
    await waitFor(async () => c.saw(d.deviceId, missed), { what: 'the missed push, replayed' });
  });

  it('resumes nothing for a token revoked while it was away', async () => {
    const admin = await signedInAs(platform.url, platform.db, 'admin');
    const user = await signedInAs(platform.url, platform.db, 'collector');
    const c = await open(user.token);
    const first = await pushed();
    await waitFor(async () => c.saw(d.deviceId, first), { what: 'the first push' });
    await dropConnection(c.socket);
    const revoked = await fetch(`${platform.url}/api/auth/revoke`, {
      method: 'POST',
      headers: { ...authHeader(admin.token), 'content-type': 'application/json' },
      body: JSON.stringify({ username: user.user.username }),
    });
    expect(revoked.status).toBe(200);
    await pushed();
    // Everything that reaches the wire, before the handshake's answer too.
    const events: unknown[] = [];
    c.socket.io.on('packet', (p) => {
      if (p.type === 2) events.push(p.data);
    });
    c.socket.connect();
    await expect(connected(c.socket)).rejects.toThrow('unauthorized');
    expect(events).toEqual([]);
  });
});

describe.skipIf(!(realBroker && realDatabase && realRedis && hasHaproxy))(
  'live session moved to another api node by the load balancer',
  () => {
    let cluster: LiveCluster;
    let balancer: Balancer;
    const d = box(2);
    const sockets: LiveSocket[] = [];

    beforeAll(async () => {
      cluster = await startLiveCluster(2);
      const [one, two] = cluster.nodes as [Platform, Platform];
      await provisionDevices(cluster.ingest.db, [d]);
      balancer = await startBalancer([one.url as string, two.url as string]);
    });
    afterAll(async () => {
      for (const s of sockets) s.close();
      await balancer?.stop();
      await cluster?.stop();
    });

    it('resumes on node B, with what it missed, when node A stops; and stays live there', async () => {
      const node = (name: NodeName) => cluster.nodes.find((n) => n.url === balancer.nodes[name]) as Platform;
      // As a browser: the page's first answer sets the sticky cookie naming the node round robin
      // picked (A), and every request of the socket sends it back.
      const page = await fetch(`${balancer.url}/api/health`);
      const cookie = stickyCookie(page);
      const nameA = servedBy(page);
      const nameB: NodeName = nameA === 'api-1' ? 'api-2' : 'api-1';
      const [a, b] = [node(nameA), node(nameB)];
      const { token } = await signedInAs(balancer.url, cluster.ingest.db, 'collector');
      // The web app's default transports (long-polling, then WebSocket): both need the cookie.
      const c = await browser(balancer.url, token, {
        transports: ['polling', 'websocket'],
        extraHeaders: { cookie },
      });
      sockets.push(c.socket);
      await waitFor(async () => c.socket.io.engine.transport.name === 'websocket', { what: 'the upgrade' });
      const witness = await browser(b.url as string, token);
      sockets.push(witness.socket);
      let ts = Date.now() - 600_000;
      const report = () => {
        ts += 1000;
        return reportFrom(cluster.ingest.mqttUrl, d, ts);
      };

      const first = await report();
      await waitFor(async () => c.saw(d.deviceId, first), { what: 'the first push, through node A' });
      // Node A goes away (a deploy, a crash): its connections close, the sessions stay in Redis.
      const dropped = new Promise<string>((resolve) => c.socket.once('disconnect', resolve));
      await a.stop();
      expect(await dropped).toBe('transport close');
      const missed = await report();
      await waitFor(async () => witness.saw(d.deviceId, missed), { what: 'the push while away, on node B' });

      // The cookie still names A, which is gone: the load balancer sends the requests to B.
      c.socket.connect();
      await connected(c.socket);
      expect(c.socket.recovered).toBe(true);
      await waitFor(async () => c.saw(d.deviceId, missed), { what: 'the missed push, replayed on node B' });
      await waitFor(async () => c.socket.io.engine.transport.name === 'websocket', {
        what: 'the upgrade on B',
      });
      expect(servedBy(await fetch(`${balancer.url}/api/health`, { headers: { cookie } }))).toBe(nameB);
      const after = await report();
      await waitFor(async () => c.saw(d.deviceId, after), { what: 'a push on node B' });
    });
  },
);
