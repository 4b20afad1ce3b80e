/**
 * docker-compose.yml's topology started as local processes, without Docker, until every process is
 * healthy and, where haproxy is installed, the load balancer has sent a request to every api node;
 * then stopped. The processes are derived from the compose file itself (deploy/cluster/plan.ts):
 * the api nodes and ingest workers run the Dockerfile's CMD with their service's environment,
 * interpolated from a deploy/.env filled in as deploy/.env.example says; the lb service runs as a
 * local haproxy with deploy/haproxy/haproxy.cfg. This machine's PostgreSQL (a database of its own,
 * dropped again), Mosquitto and Redis stand in for the db, mosquitto and redis services.
 * Exit 0: all healthy; 1: one exited or stayed unhealthy (its log is printed).
 *
 *   npx tsx test/deploy/compose-local.ts   # .ci/run runs it
 *
 * COMPOSE_LOCAL_DATABASE (default postgres://postgres@127.0.0.1:5432), COMPOSE_LOCAL_MQTT (default
 * mqtt://127.0.0.1:1883) and COMPOSE_LOCAL_REDIS (default redis://127.0.0.1:6379) say where the
 * local servers are.
 */
import { createOwnDatabase } from '../../deploy/cluster/database.ts';
import { type Cluster, findHaproxy, startCluster } from '../../deploy/cluster/start.ts';

const DATABASE = process.env.COMPOSE_LOCAL_DATABASE ?? 'postgres://postgres@127.0.0.1:5432';
const MQTT = process.env.COMPOSE_LOCAL_MQTT ?? 'mqtt://127.0.0.1:1883';
const REDIS = process.env.COMPOSE_LOCAL_REDIS ?? 'redis://127.0.0.1:6379';
const HEALTH_TIMEOUT_MS = 120_000;

async function main(): Promise<number> {
  const loadBalancer = findHaproxy() !== null;
  if (!loadBalancer) console.warn('haproxy is not installed: the lb service is left out');
  const database = await createOwnDatabase(DATABASE, 'rt_compose');
  let cluster: Cluster | null = null;
  try {
    cluster = await startCluster({ databaseUrl: database.url, mqttUrl: MQTT, redisUrl: REDIS, loadBalancer });
    for (const p of cluster.processes)
      console.log(`started ${p.name} (${p.role}, ${p.url}, log ${p.logFile})`);
    await cluster.waitHealthy(HEALTH_TIMEOUT_MS);
    console.log(
      `compose topology healthy as local processes: ${cluster.processes.map((p) => p.name).join(', ')}` +
        (loadBalancer ? `; every api node answered through the load balancer at ${cluster.url}` : ''),
    );
    return 0;
  } catch (e) {
    console.error((e as Error).message);
    return 1;
  } finally {
    await cluster?.stop();
    await database.drop();
  }
}

process.exit(await main());
