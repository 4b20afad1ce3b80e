/**
 * docker-compose.yml's topology as local processes (npm run cluster): the interface. The
 * implementation follows in this file; the types are what callers (the CLI, tests) program against.
 */

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
  /** Each process's stdout/stderr go to <logDir>/<name>.log. */
  logDir?: string;
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
}

export interface Cluster {
  /** The load balancer: what browsers and API clients use. */
  url: string;
  processes: ClusterProcess[];
  process(name: string): ClusterProcess;
  /** The values every node was given. */
  secrets: { JWT_SECRET: string; KEY_ENCRYPTION_KEY: string };
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** SIGTERM to all, waits, then SIGKILL stragglers. */
  stop(): Promise<void>;
}

export function startCluster(_options: ClusterOptions): Promise<Cluster> {
  return Promise.reject(new Error('startCluster: not implemented yet'));
}
