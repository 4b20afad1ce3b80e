/**
 * The live map on the production topology, in Chromium, when the api node behind the page dies:
 * `startCluster` runs docker-compose.yml's processes (two api nodes behind HAProxy with
 * deploy/haproxy/haproxy.cfg, two ingest workers in one shared subscription, a supervisor that
 * restarts what exits) on the real Mosquitto, PostgreSQL and Redis. A collector signs in through
 * the load balancer's URL; round robin and the `rt_node` cookie put the page on one api node, B. A
 * box reports over MQTT, one of the ingest workers commits it, and the machine moves on B's page.
 * Then B is killed with SIGKILL: the page's socket reconnects through the load balancer to the
 * other node, A, and the next report moves the machine again on the same page, by a live push,
 * without a reload.
 *
 * What the page shows is read from its UI: the selected machine's "navigate" link carries the
 * position the map holds for it (WGS-84 in an en-US browser). The api nodes serve the production
 * bundle (web/dist, built here when missing, as `npm run cluster` does), which has no test handle.
 *
 * Needs MQTT_URL, DATABASE_URL and REDIS_URL (several processes: PGlite is single-process),
 * haproxy and Chromium; skipped otherwise (a missing Chromium fails with REQUIRE_BROWSER=1).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/client.ts';
import { createOwnDatabase, type OwnDatabase } from '../../deploy/cluster/database.ts';
import { type Cluster, findHaproxy, SERVED_BY, startCluster } from '../../deploy/cluster/start.ts';
import { authHeader, createTestUser, loginAs, type TestUser } from '../support/auth.ts';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  gotoApp,
  HAVE_BROWSER,
  OUTPUT,
  ROOT,
  SKIP_BROWSER,
  watchPage,
} from '../support/browser.ts';
import { STICKY_COOKIE } from '../support/haproxy.ts';
import { reportFrom } from '../support/live-cluster.ts';
import { forgetRedisKeys, uniqueRedisPrefix } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

const { MQTT_URL, DATABASE_URL, REDIS_URL } = process.env;
const ready = Boolean(MQTT_URL && DATABASE_URL && REDIS_URL && findHaproxy()) && !SKIP_BROWSER;
// Five processes starting (and migrating a database) on a machine busy with other test files.
const STARTUP_MS = 180_000;
const METRICS_TOKEN = `failover-metrics-${randomBytes(12).toString('hex')}`;
const INGEST = ['ingest-1', 'ingest-2'] as const;

const tag = `CF${process.pid}${randomBytes(3).toString('hex')}`;
const box = { deviceId: `${tag}-1`, token: randomBytes(16).toString('hex') };
const machineId = `M${tag}-1`;
/** Where the box reports from, in turn: a machine driven across a Shanghai site. */
const SITES = [
  { lat: 31.2, lon: 121.4 },
  { lat: 31.21, lon: 121.41 },
  { lat: 31.22, lon: 121.42 },
] as const;
type Site = (typeof SITES)[number];
const shown = (site: Site) => `${site.lat.toFixed(6)},${site.lon.toFixed(6)}`;

/** The production web bundle the api nodes serve (main.ts serves web/dist), built when missing. */
function ensureProductionBundle(): void {
  if (existsSync(join(ROOT, 'web/dist/index.html'))) return;
  const r = spawnSync('npm', ['run', '-s', 'build:web'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run build:web failed:\n${r.stderr}`);
}

/** What the page asks and gets over the wire, watched from the browser (Playwright's events). */
interface Wire {
  /** X-Served-By of every socket.io response (long-polling handshake and polls), in order. */
  socketIo: { node: string | undefined; afterKill: boolean }[];
  /** The page's socket.io WebSockets, in order of opening. */
  websockets: { afterKill: boolean; closed: boolean }[];
  /** Fleet loads over REST (GET /api/map/machines): started and settled. */
  fleetLoads: { started: number; settled: number };
  killed: boolean;
}

function watchWire(page: Page): Wire {
  const wire: Wire = { socketIo: [], websockets: [], fleetLoads: { started: 0, settled: 0 }, killed: false };
  const isFleet = (url: string) => new URL(url).pathname === '/api/map/machines';
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/socket.io/'))
      wire.socketIo.push({ node: r.headers()[SERVED_BY], afterKill: wire.killed });
  });
  page.on('websocket', (ws) => {
    if (!new URL(ws.url()).pathname.startsWith('/socket.io/')) return;
    const entry = { afterKill: wire.killed, closed: false };
    ws.on('close', () => {
      entry.closed = true;
    });
    wire.websockets.push(entry);
  });
  page.on('request', (r) => {
    if (isFleet(r.url())) wire.fleetLoads.started += 1;
  });
  const settled = (r: { url(): string }) => {
    if (isFleet(r.url())) wire.fleetLoads.settled += 1;
  };
  page.on('requestfinished', settled);
  page.on('requestfailed', settled);
  return wire;
}

describe.skipIf(!ready)('the live map through the load balancer when its api node is killed', () => {
  let database: OwnDatabase;
  let cluster: Cluster;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let pageErrors: string[];
  let wire: Wire;
  let admin: TestUser;
  let collector: TestUser;
  const redisKeyPrefix = uniqueRedisPrefix('failover');
  /** The api node serving the page (B) and the other one (A). */
  let nodeB: string;
  let nodeA: string;
  /** The ingest worker that committed each report, in order. */
  const committedBy: string[] = [];
  let ts = Date.now() - 60_000;

  const api = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${cluster.url}${path}`, {
      method,
      headers: {
        ...authHeader(token),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** ingest_rows_committed_total of each ingest worker (its own /metrics). */
  const rowsCommitted = async () => {
    const counts: Record<string, number> = {};
    for (const name of INGEST) {
      const res = await fetch(`${cluster.process(name).url}/metrics`, { headers: authHeader(METRICS_TOKEN) });
      const line = (await res.text()).split('\n').find((l) => l.startsWith('ingest_rows_committed_total '));
      counts[name] = Number(line?.split(' ')[1] ?? 0);
    }
    return counts;
  };
  /**
   * The box reports from `site`; once `seen` holds (the report is visible), records which worker
   * committed it. The workers split the shared subscription, so either may.
   */
  const report = async (site: Site, seen: () => Promise<unknown>) => {
    const before = await rowsCommitted();
    ts += 1000;
    await reportFrom(MQTT_URL as string, box, ts, { lat: site.lat, lon: site.lon, fix: true });
    await seen();
    const after = await rowsCommitted();
    const by = INGEST.filter((n) => (after[n] ?? 0) > (before[n] ?? 0));
    expect(by.length, `a worker committed the report at ${shown(site)}`).toBeGreaterThan(0);
    committedBy.push(by.join('+'));
  };
  /** The position the page shows for the machine: its panel's navigate link (lat,lon). */
  const positionOnPage = async () => {
    const href = await page.getByTestId('navigate-link').getAttribute('href', { timeout: 30_000 });
    return new URL(href ?? '').searchParams.get('to');
  };
  const pageShows = (site: Site) =>
    waitFor(async () => (await positionOnPage()) === shown(site), {
      timeoutMs: 30_000,
      everyMs: 100,
      what: `the page to show the machine at ${shown(site)}`,
    });
  const cookieNode = async () =>
    (await context.cookies(cluster.url)).find((c) => c.name === STICKY_COOKIE)?.value;
  const connection = () => page.getByTestId('connection-status').getAttribute('data-state');

  beforeAll(async () => {
    if (!HAVE_BROWSER) throw new Error(`REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
    ensureProductionBundle();
    database = await createOwnDatabase(DATABASE_URL as string, 'rt_test_failover');
    cluster = await startCluster({
      databaseUrl: database.url,
      mqttUrl: MQTT_URL as string,
      redisUrl: REDIS_URL as string,
      redisKeyPrefix,
      env: { LOG_LEVEL: 'warn', METRICS_TOKEN },
    });
    await cluster.waitHealthy(STARTUP_MS);
    // The nodes migrated the database at start; people are made in it as `npm run users` does.
    const db = await openDatabase({ url: database.url });
    try {
      admin = await createTestUser(db, 'admin');
      collector = await createTestUser(db, 'collector');
    } finally {
      await db.close();
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    mkdirSync(OUTPUT, { recursive: true });
  }, STARTUP_MS + 60_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    // A node held down by the test (SIGSTOP) must run again to stop.
    for (const p of cluster?.processes ?? []) p.kill('SIGCONT');
    await cluster?.stop();
    if (REDIS_URL) await forgetRedisKeys(REDIS_URL, redisKeyPrefix).catch(() => {});
    await database?.drop();
  }, 120_000);

  it('provisions a box through the load balancer and shows its machine on the page of node B, moved live', async () => {
    expect(cluster.process('ingest-1').env.INGEST_SHARE_GROUP).toBe(
      cluster.process('ingest-2').env.INGEST_SHARE_GROUP,
    );
    const { token } = await loginAs(cluster.url, admin.username, admin.password);
    const provisioned = await api(token, 'POST', '/api/devices', {
      devices: [
        {
          ...box,
          machine: {
            id: machineId,
            make: 'Sany',
            model: 'SY215C',
            type: 'excavator',
            serial: `P${tag}`,
            year: 2023,
          },
        },
      ],
    });
    expect(provisioned).toEqual({ status: 200, body: { created: [box.deviceId], refreshed: [] } });
    const contract = await api(token, 'POST', '/api/contracts', {
      number: `FO-${tag}`,
      kind: 'loan',
      principal: 3_600_000,
      startDate: '2024-01-01',
      termMonths: 36,
      customer: { name: '测试客户' },
      machineId,
    });
    expect(contract.status, JSON.stringify(contract.body)).toBe(200);
    // Where the machine is when the page opens: stored, so the page's first fleet load has it.
    await report(SITES[0], () =>
      waitFor(
        async () =>
          Date.parse(String((await api(token, 'GET', `/api/devices/${box.deviceId}`)).body.lastFixAt)) === ts,
        { timeoutMs: 30_000, what: 'the first report stored' },
      ),
    );

    context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      locale: 'en-US',
      timezoneId: 'Asia/Shanghai',
    });
    page = await context.newPage();
    pageErrors = await watchPage(page);
    wire = watchWire(page);
    await gotoApp(page, cluster.url);
    await page.getByTestId('login-form').waitFor({ timeout: 30_000 });
    await page.fill('input[name=username]', collector.username);
    await page.fill('input[name=password]', collector.password);
    await page.click('button[type=submit]');
    await page.getByTestId('session-bar').waitFor({ timeout: 30_000 });
    await page.evaluate((id) => {
      window.location.hash = `#/map/${id}`;
    }, box.deviceId);
    await page.waitForSelector(`[data-testid=machine-panel][data-device-id="${box.deviceId}"]`, {
      timeout: 60_000,
    });
    expect(await positionOnPage()).toBe(shown(SITES[0]));
    await waitFor(async () => (await connection()) === 'live', { timeoutMs: 30_000, what: 'the page live' });
    await waitFor(async () => wire.fleetLoads.settled === wire.fleetLoads.started, {
      what: 'the fleet loaded',
    });

    // The node the load balancer put the page on: its cookie, and every socket.io answer so far.
    nodeB = (await cookieNode()) as string;
    expect(nodeB).toMatch(/^api-[12]$/);
    nodeA = nodeB === 'api-1' ? 'api-2' : 'api-1';
    expect(wire.socketIo.length).toBeGreaterThan(0);
    expect(new Set(wire.socketIo.map((r) => r.node))).toEqual(new Set([nodeB]));
    // socket.io connects by long-polling, then upgrades to a WebSocket.
    await waitFor(async () => wire.websockets.some((w) => !w.closed), { what: 'the WebSocket upgrade' });
    expect(wire.websockets.filter((w) => !w.closed)).toHaveLength(1);

    const loads = wire.fleetLoads.started;
    await report(SITES[1], () => pageShows(SITES[1]));
    // Moved by a push on the socket, not by reloading the fleet.
    expect(wire.fleetLoads.started).toBe(loads);
    expect(pageErrors).toEqual([]);
    await page.screenshot({ path: join(OUTPUT, 'cluster-failover-before.png') });
  });

  it('reconnects through the load balancer to node A when B is killed, and moves the machine again without a reload', async () => {
    const b = cluster.process(nodeB);
    // A mark that only this load of the page holds: a reload would lose it.
    await page.evaluate(() => {
      (window as unknown as { failoverMark: string }).failoverMark = 'same page';
    });
    const { pid } = b;
    wire.killed = true;
    b.kill('SIGKILL');
    // The supervisor restarts B at once (compose's restart policy). Held stopped (SIGSTOP) before it
    // listens again, B stays down as a node whose restart takes long, so the page can only come back
    // on A whatever the machine's load.
    await waitFor(async () => b.pid !== undefined && b.pid !== pid, {
      timeoutMs: 30_000,
      everyMs: 5,
      what: `${nodeB} restarted by the supervisor`,
    });
    b.kill('SIGSTOP');

    // Reconnected: a new WebSocket, the page says live, and the fleet reload that follows a
    // reconnect socket.io could not recover (B died without handing its sessions over) is done.
    await waitFor(
      async () =>
        wire.websockets.some((w) => w.afterKill && !w.closed) &&
        (await connection()) === 'live' &&
        wire.fleetLoads.settled === wire.fleetLoads.started,
      { timeoutMs: 60_000, everyMs: 100, what: 'the page reconnected' },
    ).catch(async (e) => {
      const seen = { connection: await connection(), wire, cookie: await cookieNode() };
      throw new Error(`${(e as Error).message}; saw ${JSON.stringify(seen)}`, { cause: e });
    });
    // The socket of B closed, a new one opened, and everything since was answered by A.
    expect(wire.websockets.filter((w) => !w.afterKill).every((w) => w.closed)).toBe(true);
    const since = wire.socketIo.filter((r) => r.afterKill);
    expect(since.length).toBeGreaterThan(0);
    expect(new Set(since.map((r) => r.node))).toEqual(new Set([nodeA]));
    expect(await cookieNode()).toBe(nodeA);

    const loads = wire.fleetLoads.started;
    await report(SITES[2], () => pageShows(SITES[2]));
    expect(wire.fleetLoads.started).toBe(loads);
    expect(await page.evaluate(() => (window as unknown as { failoverMark?: string }).failoverMark)).toBe(
      'same page',
    );
    // Nothing went wrong on the page through it all: the load balancer answered every request.
    expect(pageErrors).toEqual([]);
    await page.screenshot({ path: join(OUTPUT, 'cluster-failover-after.png') });
    console.info(`page on ${nodeB}, then ${nodeA}; reports committed by ${committedBy.join(', ')}`);
    b.kill('SIGCONT');
  });
});
