/**
 * The production topology on this machine (npm run cluster): two api nodes behind HAProxy and two
 * ingest workers, on the real PostgreSQL, Mosquitto and Redis. Requests through the load balancer
 * reach both nodes; a socket.io session stays on its node; an api node killed with SIGKILL leaves
 * the other answering through the load balancer, and the supervisor brings it back.
 *
 * Needs MQTT_URL, DATABASE_URL and REDIS_URL (several processes: PGlite is single-process) and
 * haproxy; skipped otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOwnDatabase, type OwnDatabase } from '../../deploy/cluster/database.ts';
import { type Cluster, findHaproxy, SERVED_BY, startCluster } from '../../deploy/cluster/start.ts';
import { waitFor } from '../support/wait.ts';

const { MQTT_URL, DATABASE_URL, REDIS_URL } = process.env;
const ready = Boolean(MQTT_URL && DATABASE_URL && REDIS_URL && findHaproxy());
// Five processes starting (and migrating a database) on a machine busy with other test files.
const STARTUP_MS = 180_000;

/** Which api node answered a request through the load balancer (haproxy.cfg names it). */
async function ask(url: string, init: RequestInit = {}): Promise<{ status: number; node: string | null }> {
  const r = await fetch(url, init);
  await r.arrayBuffer();
  return { status: r.status, node: r.headers.get(SERVED_BY) };
}

describe.skipIf(!ready)('the cluster: two api nodes behind the load balancer, two ingest workers', () => {
  let database: OwnDatabase;
  let cluster: Cluster;

  beforeAll(async () => {
    database = await createOwnDatabase(DATABASE_URL as string, 'rt_test_cluster');
    cluster = await startCluster({
      databaseUrl: database.url,
      mqttUrl: MQTT_URL as string,
      redisUrl: REDIS_URL as string,
      env: { LOG_LEVEL: 'warn' },
    });
    await cluster.waitHealthy(STARTUP_MS);
  }, STARTUP_MS + 30_000);

  afterAll(async () => {
    await cluster?.stop();
    await database?.drop();
  }, 120_000);

  it('runs the processes of the compose file, each healthy', () => {
    expect(cluster.processes.map((p) => [p.name, p.role])).toEqual([
      ['api-1', 'api'],
      ['api-2', 'api'],
      ['ingest-1', 'ingest'],
      ['ingest-2', 'ingest'],
      ['lb', 'lb'],
    ]);
    for (const p of cluster.processes) expect(p.pid, p.name).toBeGreaterThan(0);
  });

  it('spreads requests through the load balancer over both api nodes', async () => {
    const answers = [];
    for (let i = 0; i < 8; i++) answers.push(await ask(`${cluster.url}/api/health`));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(new Set(answers.map((a) => a.node))).toEqual(new Set(['api-1', 'api-2']));
  });

  it('keeps a socket.io long-polling session on the node that holds it (the sticky cookie)', async () => {
    const handshake = await fetch(`${cluster.url}/socket.io/?EIO=4&transport=polling`);
    const body = await handshake.text();
    const sid = (JSON.parse(body.slice(body.indexOf('{'))) as { sid: string }).sid;
    const cookie = (handshake.headers.get('set-cookie') ?? '').split(';')[0] as string;
    expect(cookie).toMatch(/^rt_node=api-[12]$/);
    const holder = handshake.headers.get(SERVED_BY);
    // A noop packet posted to the session: the holder accepts it, the other node knows no such session.
    const post = (headers: Record<string, string>) =>
      ask(`${cluster.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
        method: 'POST',
        body: '6',
        headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers },
      });
    for (let i = 0; i < 4; i++) expect(await post({ cookie })).toEqual({ status: 200, node: holder });
    // Without the cookie, round robin sends some of them to the node without the session.
    const cookieless = [];
    for (let i = 0; i < 4; i++) cookieless.push(await post({}));
    expect(cookieless.map((a) => a.status)).toContain(400);
  });

  it(
    'answers from the other node while an api node is killed, and the supervisor restarts it',
    async () => {
      const victim = cluster.process('api-1');
      const { pid, restarts } = victim;
      victim.kill('SIGKILL');
      // Every request after the kill is answered, by api-2, including those HAProxy first sent to the
      // dead node before its health check marked it down (retried on the other one).
      const during = [];
      for (let i = 0; i < 10; i++) during.push(await ask(`${cluster.url}/api/health`));
      expect(during.filter((a) => a.status !== 200)).toEqual([]);
      expect(new Set(during.map((a) => a.node))).toEqual(new Set(['api-2']));

      await waitFor(async () => victim.restarts > restarts, { timeoutMs: 60_000, what: 'api-1 restarted' });
      expect(victim.pid).not.toBe(pid);
      await victim.waitHealthy(STARTUP_MS);
      // Back in the load balancer's rotation.
      await waitFor(async () => (await ask(`${cluster.url}/api/health`)).node === 'api-1', {
        timeoutMs: 60_000,
        everyMs: 200,
        what: 'api-1 answering through the load balancer again',
      });
    },
    STARTUP_MS,
  );
});
