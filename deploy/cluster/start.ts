/**
 * docker-compose.yml's topology as local processes (npm run cluster): the api nodes and ingest
 * workers as node processes running the Dockerfile's command, the load balancer as a local haproxy
 * with deploy/haproxy/haproxy.cfg, each with its service's environment from a deploy/.env filled in
 * as deploy/.env.example says (secrets generated). This machine's PostgreSQL, Mosquitto and Redis
 * stand in for the db, mosquitto and redis services; plan.ts says what else is mapped and how. A
 * supervisor restarts whatever exits, as compose's `restart: unless-stopped` does.
 *
 * Several clusters can share the machine's servers: each has its own database (the caller's
 * databaseUrl), Redis key prefix, ingest share group and broker session names.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { composeWith, deploymentEnv, dockerfileRuntime } from './compose.ts';
import { instances, type ProcessSpec, planCluster, processNames } from './plan.ts';
import { forgetSessions } from './sessions.ts';
import { Supervised } from './supervisor.ts';

export interface ClusterOptions {
  /** The PostgreSQL the nodes use (the compose `db` service mapped here). */
  databaseUrl: string;
  /** The broker the nodes use (the compose `mosquitto` service mapped here). */
  mqttUrl: string;
  /** The compose `redis` service mapped here. */
  redisUrl: string;
  /** REDIS_KEY_PREFIX for every node (default: random per cluster). */
  redisKeyPrefix?: string;
  /** The load balancer's port; 0 or unset = a free port. */
  lbPort?: number;
  /** Extra environment for every app process (e.g. LOG_LEVEL, INGEST_MAX_BATCH). */
  env?: Record<string, string>;
  /** Each process's stdout/stderr go to <logDir>/<name>.log (default: a folder removed by stop()). */
  logDir?: string;
  /**
   * false: no load balancer (where haproxy is not installed); `url` is then the first api node's.
   * Default true, and startCluster fails when no haproxy is found.
   */
  loadBalancer?: boolean;
  /** The haproxy program (default: $HAPROXY, else haproxy on PATH, /usr/sbin, /usr/local/sbin). */
  haproxy?: string;
}

export interface ClusterProcess {
  /** 'api-1', 'api-2', 'ingest-1', 'ingest-2', 'lb'. */
  name: string;
  role: 'api' | 'ingest' | 'lb';
  /** Its own http://127.0.0.1:<port> (api: the app; ingest: its ops server with /health). */
  url: string;
  /** The current pid (changes after a restart). */
  pid: number | undefined;
  restarts: number;
  /** Default SIGKILL; the supervisor restarts it (compose's restart: unless-stopped). */
  kill(signal?: NodeJS.Signals): void;
  /** Resolves with the ms waited until its health endpoint answers OK. */
  waitHealthy(timeoutMs?: number): Promise<number>;
  /** The environment it runs with (compose's, mapped; plus options.env for app processes). */
  env: Readonly<Record<string, string>>;
  /** Where its stdout and stderr go. */
  logFile: string;
}

export interface Cluster {
  /** The load balancer: what browsers and API clients use. */
  url: string;
  processes: ClusterProcess[];
  process(name: string): ClusterProcess;
  /** The values every node was given. */
  secrets: { JWT_SECRET: string; KEY_ENCRYPTION_KEY: string };
  /**
   * Every process healthy and, with a load balancer, every api node seen answering through it
   * (HAProxy has taken it in).
   */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGTERM to all, waits, then SIGKILL stragglers. */
  stop(): Promise<void>;
  /** Whether a load balancer runs (see ClusterOptions.loadBalancer). */
  loadBalanced: boolean;
  logDir: string;
}

const DEFAULT_HEALTH_TIMEOUT_MS = 120_000;
const POLL_MS = 200;
/** The response header haproxy.cfg names the answering api node in. */
export const SERVED_BY = 'x-served-by';

export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const loadBalanced = options.loadBalancer ?? true;
  const haproxy = loadBalanced ? (options.haproxy ?? findHaproxy()) : null;
  if (loadBalanced && !haproxy) {
    throw new Error(
      'haproxy not found (apt-get install haproxy, or set HAPROXY to its path); ' +
        'without it, start the cluster with loadBalancer: false (npm run cluster -- --no-lb)',
    );
  }
  const workDir = mkdtempSync(join(tmpdir(), 'rt-cluster-'));
  const logDir = options.logDir ?? join(workDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const { specs, deployment, lbPort } = await clusterPlan(options, {
    workDir,
    haproxy: haproxy ?? 'haproxy',
    loadBalancer: loadBalanced,
  });
  for (const spec of specs) for (const dir of spec.dirs) mkdirSync(dir, { recursive: true });

  const supervised = specs.map((spec) => new Supervised(spec, join(logDir, `${spec.name}.log`)));
  // Whatever ends this process without stop() must not leave the cluster running.
  const killAll = () => {
    for (const s of supervised) s.kill('SIGKILL');
  };
  process.once('exit', killAll);
  for (const s of supervised) s.start();

  const processes = supervised.map((s) => clusterProcess(s));
  const byName = new Map(processes.map((p) => [p.name, p]));
  const url = loadBalanced
    ? `http://127.0.0.1:${lbPort}`
    : (processes.find((p) => p.role === 'api')?.url ?? '');
  let stopped: Promise<void> | null = null;

  return {
    url,
    processes,
    loadBalanced,
    logDir,
    process(name) {
      const p = byName.get(name);
      if (!p) throw new Error(`no process ${name} in the cluster (${[...byName.keys()].join(', ')})`);
      return p;
    },
    secrets: {
      JWT_SECRET: deployment.JWT_SECRET as string,
      KEY_ENCRYPTION_KEY: deployment.KEY_ENCRYPTION_KEY as string,
    },
    async waitHealthy(timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      await Promise.all(processes.map((p) => p.waitHealthy(timeoutMs)));
      if (loadBalanced) {
        const apis = processes.filter((p) => p.role === 'api').map((p) => p.name);
        await seenThroughLoadBalancer(url, apis, deadline);
      }
    },
    stop() {
      stopped ??= (async () => {
        // As compose stops: the load balancer first (no new requests), then the nodes.
        await Promise.all(supervised.filter((s) => s.spec.role === 'lb').map((s) => s.stop()));
        await Promise.all(supervised.map((s) => s.stop()));
        process.removeListener('exit', killAll);
        const ingest = specs.filter((s) => s.role === 'ingest');
        const first = ingest[0];
        if (first?.env.MQTT_URL) {
          await forgetSessions(
            first.env.MQTT_URL,
            ingest.map((s) => s.env.INGEST_CLIENT_ID as string),
            { username: first.env.MQTT_USERNAME, password: first.env.MQTT_PASSWORD },
          ).catch(() => {});
        }
        rmSync(workDir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
}

export interface ClusterPlan {
  specs: ProcessSpec[];
  /** The deploy/.env the compose file was interpolated with (secrets included). */
  deployment: Record<string, string>;
  /** Tells the cluster's names (share group, Redis prefix, broker sessions) from others'. */
  id: string;
  lbPort: number;
}

/**
 * What startCluster runs, without running it: the processes planned from docker-compose.yml,
 * interpolated with a deploy/.env as an operator fills it in (secrets generated) plus what keeps
 * this cluster apart from others on the same servers, and options.env for the app processes.
 */
export async function clusterPlan(
  options: ClusterOptions,
  how: { workDir: string; haproxy: string; loadBalancer: boolean },
): Promise<ClusterPlan> {
  const id = randomBytes(4).toString('hex');
  // The load balancer's published port (API_PUBLIC_PORT) is the one asked for.
  const lbPort = options.lbPort || (await freePort());
  const deployment = deploymentEnv({
    INGEST_SHARE_GROUP: `cluster-${id}`,
    REDIS_KEY_PREFIX: options.redisKeyPrefix ?? `cluster-${id}`,
    API_PUBLIC_PORT: String(lbPort),
  });
  const compose = composeWith(deployment);
  const ports: Record<string, number> = {};
  for (const name of processNames(compose, how.loadBalancer)) {
    const lb = instances(compose).find((i) => i.name === name && i.kind === 'lb');
    ports[name] = lb ? publishedHostPort(compose.services[lb.service]?.ports) : await freePort();
  }
  const specs = planCluster({
    compose,
    image: dockerfileRuntime(),
    standIns: { databaseUrl: options.databaseUrl, mqttUrl: options.mqttUrl, redisUrl: options.redisUrl },
    ports,
    workDir: how.workDir,
    clusterId: id,
    binaries: { node: process.execPath, haproxy: how.haproxy },
    loadBalancer: how.loadBalancer,
    path: process.env.PATH ?? '',
  }).map((spec) => (spec.role === 'lb' ? spec : { ...spec, env: { ...spec.env, ...options.env } }));
  return { specs, deployment, id, lbPort };
}

function clusterProcess(s: Supervised): ClusterProcess {
  const { spec } = s;
  const url = `http://127.0.0.1:${spec.port}`;
  return {
    name: spec.name,
    role: spec.role,
    url,
    env: spec.env,
    logFile: s.logFile,
    get pid() {
      return s.pid;
    },
    get restarts() {
      return s.restarts;
    },
    kill: (signal: NodeJS.Signals = 'SIGKILL') => s.kill(signal),
    async waitHealthy(timeoutMs = DEFAULT_HEALTH_TIMEOUT_MS) {
      const started = Date.now();
      while (!(await answersOk(`${url}${spec.healthPath}`))) {
        if (Date.now() - started > timeoutMs) {
          throw new Error(
            `${spec.name} not healthy at ${url}${spec.healthPath} after ${timeoutMs} ms; its log (${s.logFile}) ends:\n${s.tail()}`,
          );
        }
        await sleep(POLL_MS);
      }
      return Date.now() - started;
    },
  };
}

/** Asks the load balancer until each api node has answered through it once. */
async function seenThroughLoadBalancer(url: string, apis: string[], deadline: number): Promise<void> {
  const seen = new Set<string>();
  while (apis.some((a) => !seen.has(a))) {
    // No cookie is sent back, so round robin spreads the requests.
    const served = await fetch(`${url}/api/health`).then(
      (r) => r.headers.get(SERVED_BY),
      () => null,
    );
    if (served) seen.add(served);
    await sleep(POLL_MS);
    if (Date.now() > deadline) {
      throw new Error(
        `the load balancer at ${url} sent nothing to ${apis.filter((a) => !seen.has(a)).join(', ')}`,
      );
    }
  }
}

const answersOk = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.ok,
    () => false,
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The host port of a service's one published port ("HOST:CONTAINER"). */
function publishedHostPort(ports: (string | { published?: string | number })[] | undefined): number {
  const port = ports?.[0];
  const host = typeof port === 'string' ? port.split(':').at(-2) : port?.published;
  if (host === undefined || !Number(host))
    throw new Error(`no published host port in ${JSON.stringify(ports)}`);
  return Number(host);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The haproxy program: $HAPROXY, else on PATH or in the sbin folders Debian installs it in. */
export function findHaproxy(): string | null {
  if (process.env.HAPROXY) return process.env.HAPROXY;
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const folder of folders.filter(Boolean)) {
    try {
      accessSync(join(folder, 'haproxy'), constants.X_OK);
      return join(folder, 'haproxy');
    } catch {}
  }
  return null;
}

export type { ProcessSpec };
