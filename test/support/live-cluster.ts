/**
 * Several api nodes of one deployment for the live map's tests (real Mosquitto, PostgreSQL and
 * Redis only: PGlite is one process): an ingest worker, and api nodes on its database, broker and
 * Redis key prefix, each its own `startPlatform` with ROLES=api, as the compose file runs them.
 * Each node serves /metrics with METRICS_TOKEN.
 */
import mqtt from 'mqtt';
import { type Platform, startPlatform } from '../../main.ts';
import type { Config } from '../../shared/config.ts';
import { topics } from '../../shared/protocol.ts';
import { authHeader } from './auth.ts';
import { startTestPlatform, type TestPlatform } from './platform.ts';

export const METRICS_TOKEN = 'live-cluster-metrics-token-0123456789';

export interface LiveCluster {
  ingest: TestPlatform;
  nodes: Platform[];
  /** A counter of the map feed (`live_feed_<what>_total{event="machines:update"}`) summed over the running nodes. */
  fed(what: 'batches' | 'items'): Promise<number>;
  stop(): Promise<void>;
}

export async function startLiveCluster(count = 2, overrides: Partial<Config> = {}): Promise<LiveCluster> {
  const ingest = await startTestPlatform({ ROLES: ['ingest'], METRICS_TOKEN, ...overrides });
  const nodes: Platform[] = [];
  const stopped = new Set<Platform>();
  const cluster: LiveCluster = {
    ingest,
    nodes,
    async fed(what) {
      const series = `live_feed_${what}_total{event="machines:update"} `;
      let sum = 0;
      for (const node of nodes.filter((n) => !stopped.has(n))) {
        const res = await fetch(`${node.url}/metrics`, { headers: authHeader(METRICS_TOKEN) });
        const line = (await res.text()).split('\n').find((l) => l.startsWith(series));
        sum += line === undefined ? 0 : Number(line.slice(series.length));
      }
      return sum;
    },
    async stop() {
      for (const node of nodes) if (!stopped.has(node)) await node.stop();
      await ingest.teardown();
    },
  };
  try {
    for (let i = 0; i < count; i++) {
      const node = await startPlatform({ ...ingest.current.config, ROLES: ['api'], PORT: 0 });
      // A node stopped by a test is not stopped again, nor scraped.
      const stop = node.stop;
      node.stop = async () => {
        stopped.add(node);
        await stop();
      };
      nodes.push(node);
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** One report from a provisioned box, as the box sends it; returns its device time (ISO). */
export async function reportFrom(
  mqttUrl: string,
  box: { deviceId: string; token: string },
  ts: number,
  extra: Record<string, unknown> = {},
): Promise<string> {
  const client = await mqtt.connectAsync(mqttUrl, {
    clientId: box.deviceId,
    username: box.deviceId,
    password: box.token,
    reconnectPeriod: 0,
  });
  await client.publishAsync(
    topics.telemetry(box.deviceId),
    JSON.stringify({ v: 1, ts, lat: 31.2, lon: 121.4, ...extra }),
    { qos: 1 },
  );
  await client.endAsync();
  return new Date(ts).toISOString();
}
