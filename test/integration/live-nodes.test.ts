/**
 * The live map on two api nodes (real Mosquitto, PostgreSQL and Redis only; PGlite is one process):
 * an ingest worker and api nodes A and B on one database, one Redis key prefix. A report that ingest
 * committed reaches a browser on either node; each announcement becomes a feed on one node only
 * (counted by `live_feed_batches_total` and `live_feed_items_total` in each node's /metrics, summed
 * over the nodes); and the scopes hold across nodes: an agent gets only the machines of their
 * assignments, a dealer user only their dealer's, a user of two dealers both, each once.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Platform } from '../../main.ts';
import type { AlertView } from '../../shared/alerts.ts';
import type { ServerToClientEvents } from '../../shared/live.ts';
import type { MachineFeature } from '../../shared/map.ts';
import type { Scope } from '../../shared/scope.ts';
import { authHeader, createTestUser, loginAs } from '../support/auth.ts';
import { realBroker, realDatabase } from '../support/engines.ts';
import { type LiveCluster, reportFrom, startLiveCluster } from '../support/live-cluster.ts';
import { realRedis } from '../support/redis.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const DX = `DX${run}`;
const DY = `DY${run}`;
/** Three machines: 1 at dealer X and assigned to the agent, 2 at dealer Y, 3 at dealer X. */
const devices = [1, 2, 3].map((n) => ({
  deviceId: `LN${run}-${n}`,
  token: `token-live-nodes-${run}-${n}`.padEnd(32, '0'),
  dealer: n === 2 ? DY : DX,
  machine: {
    id: `MLN${run}-${n}`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `PLN${run}-${n}`,
    year: 2022,
  },
}));
const [d1, d2, d3] = devices as [(typeof devices)[0], (typeof devices)[0], (typeof devices)[0]];

/** What one browser heard. */
class Viewer {
  readonly machines: MachineFeature[] = [];
  readonly alerts: AlertView[] = [];
  constructor(readonly socket: Socket<ServerToClientEvents>) {
    socket.on('machines:update', (f) => this.machines.push(...f));
    socket.on('alerts:update', (a) => this.alerts.push(...a));
  }
  /** How many pushes of each of this test's devices (other test files share the broker). */
  heard(deviceId: string, ts?: string) {
    return this.machines.filter(
      (f) => f.properties.deviceId === deviceId && (ts === undefined || f.properties.lastSeen === ts),
    ).length;
  }
  ours() {
    const ids = new Set(devices.map((d) => d.deviceId));
    return [...new Set(this.machines.map((f) => f.properties.deviceId).filter((id) => ids.has(id)))].sort();
  }
}

describe.skipIf(!(realBroker && realDatabase && realRedis))('live map on two api nodes', () => {
  let cluster: LiveCluster;
  let a: Platform;
  let b: Platform;
  const viewers: Viewer[] = [];

  const connect = async (node: Platform, token: string) => {
    const socket = io(node.url as string, { transports: ['websocket'], auth: { token } });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    const viewer = new Viewer(socket);
    viewers.push(viewer);
    return viewer;
  };
  const user = async (role: 'collector' | 'recovery_agent' | 'risk_manager' | 'admin', scope: Scope) => {
    const u = await createTestUser(cluster.ingest.db, role, { scope });
    return { ...u, token: (await loginAs(a.url as string, u.username, u.password)).token };
  };
  const report = (d: (typeof devices)[0], ts: number, extra: Record<string, unknown> = {}) =>
    reportFrom(cluster.ingest.mqttUrl, d, ts, extra);
  const fed = (what: 'batches' | 'items') => cluster.fed(what);

  let all: Viewer;
  let agent: Viewer;
  let dealerX: Viewer;
  let dealerY: Viewer;
  let twoDealers: Viewer;

  beforeAll(async () => {
    // Two api nodes on the same database, broker and Redis key prefix: one deployment.
    cluster = await startLiveCluster(2);
    [a, b] = cluster.nodes as [Platform, Platform];
    await provisionDevices(cluster.ingest.db, devices);

    const admin = await user('admin', { kind: 'all' });
    const risk = await user('risk_manager', { kind: 'all' });
    const field = await user('recovery_agent', { kind: 'assigned' });
    for (const d of devices) {
      const created = await fetch(`${a.url}/api/contracts`, {
        method: 'POST',
        headers: { ...authHeader(admin.token), 'content-type': 'application/json' },
        body: JSON.stringify({
          number: `HT-${d.deviceId}`,
          kind: 'loan',
          principal: 3_600_000,
          startDate: '2020-01-01',
          termMonths: 36,
          customer: { name: '测试客户' },
          dealer: { id: d.dealer, name: `Dealer ${d.dealer}` },
          machineId: d.machine.id,
        }),
      });
      expect(created.status).toBe(200);
      if (d !== d1) continue;
      const { id } = (await created.json()) as { id: string };
      const assigned = await fetch(`${b.url}/api/contracts/${id}/assignments`, {
        method: 'POST',
        headers: { ...authHeader(risk.token), 'content-type': 'application/json' },
        body: JSON.stringify({
          agent: field.username,
          until: new Date(Date.now() + 86_400_000).toISOString(),
          reason: 'find the machine this week',
        }),
      });
      expect(assigned.status).toBe(201);
    }
    const collector = await user('collector', { kind: 'all' });
    // Spread over both nodes, as a load balancer would.
    all = await connect(b, collector.token);
    agent = await connect(a, field.token);
    dealerX = await connect(b, (await user('collector', { kind: 'dealers', dealerIds: [DX] })).token);
    dealerY = await connect(a, (await user('collector', { kind: 'dealers', dealerIds: [DY] })).token);
    twoDealers = await connect(b, (await user('collector', { kind: 'dealers', dealerIds: [DX, DY] })).token);
  });
  afterAll(async () => {
    for (const v of viewers) v.socket.close();
    await cluster?.stop();
  });

  it('pushes a committed report to a browser on the other node, produced once for both nodes', async () => {
    const [batches, items] = [await fed('batches'), await fed('items')];
    const times: string[] = [];
    // One report at a time, each awaited: each is one announcement, so one feed batch.
    for (const [i, d] of [d1, d2, d3].entries()) {
      const ts = await report(d, Date.now() - 60_000 + i * 1000);
      times.push(ts);
      await waitFor(async () => all.heard(d.deviceId, ts) > 0, { what: `${d.deviceId} on node B` });
      await waitFor(async () => (await fed('items')) >= items + i + 1, { what: 'the fed machine counted' });
    }
    // Once per announcement over both nodes, not once per node; and each browser heard each push once.
    expect((await fed('batches')) - batches).toBe(3);
    expect((await fed('items')) - items).toBe(3);
    expect([d1, d2, d3].map((d, i) => all.heard(d.deviceId, times[i]))).toEqual([1, 1, 1]);
    expect(all.ours()).toEqual([d1, d2, d3].map((d) => d.deviceId).sort());
  });

  it('holds the scopes across nodes: agents, dealer users, a user of two dealers', async () => {
    await waitFor(async () => agent.heard(d1.deviceId) > 0, { what: "the agent's machine on node A" });
    await waitFor(async () => dealerX.ours().length === 2, { what: "dealer X's machines on node B" });
    await waitFor(async () => dealerY.ours().length === 1, { what: "dealer Y's machine on node A" });
    await waitFor(async () => twoDealers.ours().length === 3, { what: 'both dealers on node B' });
    expect(agent.ours()).toEqual([d1.deviceId]);
    expect(dealerX.ours()).toEqual([d1.deviceId, d3.deviceId].sort());
    expect(dealerY.ours()).toEqual([d2.deviceId]);
    // Several dealer rooms, one push each.
    expect(devices.map((d) => twoDealers.heard(d.deviceId))).toEqual([1, 1, 1]);
  });

  it('routes an alert to the audience of its machine only', async () => {
    const ts = Date.now() - 30_000;
    await report(d2, ts, { pwr: 0, alm: ['powerCut'] });
    const mine = (v: Viewer) => v.alerts.filter((x) => x.deviceId === d2.deviceId);
    await waitFor(async () => mine(dealerY).length > 0, { what: "the power cut at dealer Y's user" });
    await waitFor(async () => mine(all).length > 0 && mine(twoDealers).length > 0, {
      what: 'the power cut at the users of every dealer',
    });
    expect(mine(dealerY).map((x) => x.kind)).toEqual(['power_cut']);
    expect(mine(twoDealers)).toHaveLength(1);
    expect(mine(dealerX)).toEqual([]);
    expect(mine(agent)).toEqual([]);
  });
});
