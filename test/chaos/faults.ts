/**
 * The faults of the chaos run, and how long the platform takes to recover from each.
 *
 * Every fault starts at t0, the moment the signal is sent (or the stop begun). It has recovered at
 * the latest of three moments, each measured by polling (every 200 ms):
 *
 * 1. its part is back —
 *    - `ingest-kill` (SIGKILL to ingest-1): the supervisor has started it again and its /health
 *      answers OK (database reachable, broker session connected);
 *    - `api-kill` (SIGKILL to an api node): the supervisor has started it again and its health
 *      endpoint answers OK;
 *    - `mosquitto-restart` (SIGTERM, the exit after mosquitto has written its database, a new
 *      process on the same port): the broker accepts TCP connections again;
 *    - `postgres-restart` (`pg_ctl stop -m fast|immediate`, then start): the server accepts a
 *      connection and answers `select 1`;
 * 2. stored reports grow again: after moment 1, the number of stored reports of a fixed sample
 *    of fleet devices has risen above what it was at moment 1 (ingest writes again, end to end);
 * 3. the live map moves again: every live socket has received a `machines:update` after t0.
 *
 * recoverySeconds = (latest of the three − t0) / 1000; null if that did not happen within the
 * recovery timeout. A fault's `at` is t0 in seconds from the fleet's first report.
 */
import type { Cluster, ClusterProcess } from '../../deploy/cluster/start.ts';
import type { LiveWatch } from './live-watch.ts';
import type { PrivateMosquitto } from './private-mosquitto.ts';
import type { PgStopMode, PrivatePostgres } from './private-postgres.ts';

export const FAULT_KINDS = ['ingest-kill', 'api-kill', 'mosquitto-restart', 'postgres-restart'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRecord {
  kind: FaultKind;
  at: number;
  recoverySeconds: number | null;
  /** What was hit (process name, pid) and the three moments, seconds after t0. */
  detail: {
    target: string;
    backSeconds: number | null;
    growthSeconds: number | null;
    liveSeconds: number | null;
    /** Live sockets that lost their connection meanwhile (an api kill should move those on its node). */
    liveDisconnects: number;
  };
}

export interface FaultDeps {
  cluster: Cluster;
  mosquitto: PrivateMosquitto;
  postgres: PrivatePostgres;
  pgStopMode: PgStopMode;
  /** Stored reports of the sample devices; null while the database does not answer. */
  storedSample(): Promise<number | null>;
  live: LiveWatch[];
  /** The api node to kill: the one a live socket is on, if that can be told. */
  apiTarget(): Promise<string>;
  runStartedAt: number;
  timeoutMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(
  probe: () => Promise<T | null | undefined | false>,
  deadline: number,
): Promise<T | null> {
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) return null;
    await sleep(200);
  }
}

/** SIGKILL, then until the supervisor has started it again and it is healthy; when that was. */
async function killAndAwait(p: ClusterProcess, deadline: number): Promise<number | null> {
  const restarts = p.restarts;
  p.kill('SIGKILL');
  const restarted = await until(async () => p.restarts > restarts, deadline);
  if (!restarted) return null;
  try {
    await p.waitHealthy(Math.max(1, deadline - Date.now()));
    return Date.now();
  } catch {
    return null;
  }
}

export async function injectFault(kind: FaultKind, deps: FaultDeps): Promise<FaultRecord> {
  const disconnects = () => deps.live.reduce((n, w) => n + w.stats().disconnects, 0);
  const disconnectsBefore = disconnects();
  const t0 = Date.now();
  const deadline = t0 + deps.timeoutMs;
  let target: string;
  let back: number | null;
  if (kind === 'ingest-kill') {
    const p = deps.cluster.process('ingest-1');
    target = `${p.name} (pid ${p.pid})`;
    back = await killAndAwait(p, deadline);
  } else if (kind === 'api-kill') {
    const p = deps.cluster.process(await deps.apiTarget());
    target = `${p.name} (pid ${p.pid})`;
    back = await killAndAwait(p, deadline);
  } else if (kind === 'mosquitto-restart') {
    target = `mosquitto ${deps.mosquitto.url}`;
    back = await deps.mosquitto.restart().then(
      () => Date.now(),
      () => null,
    );
  } else {
    target = `postgres ${deps.postgres.url} (stop -m ${deps.pgStopMode})`;
    back = await deps.postgres.restart(deps.pgStopMode).then(
      () => Date.now(),
      () => null,
    );
  }
  let growth: number | null = null;
  if (back !== null) {
    // Wrapped: a count of 0 is an answer, not a failed probe.
    const base = await until(async () => {
      const n = await deps.storedSample();
      return n === null ? null : { n };
    }, deadline);
    if (base !== null) {
      growth = await until(async () => ((await deps.storedSample()) ?? -1) > base.n && Date.now(), deadline);
    }
  }
  const live = await until(async () => deps.live.every((w) => w.lastUpdateAt() > t0) && Date.now(), deadline);
  const after = (t: number | null) => (t === null ? null : round((t - t0) / 1000));
  const recovered = back !== null && growth !== null && live !== null ? Math.max(back, growth, live) : null;
  return {
    kind,
    at: round((t0 - deps.runStartedAt) / 1000),
    recoverySeconds: after(recovered),
    detail: {
      target,
      backSeconds: after(back),
      growthSeconds: after(growth),
      liveSeconds: after(live),
      liveDisconnects: disconnects() - disconnectsBefore,
    },
  };
}

const round = (n: number) => Math.round(n * 10) / 10;
