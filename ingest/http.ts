/**
 * The small HTTP face of a process without the api (ROLES=ingest): GET /metrics for Prometheus and
 * GET /health for the orchestrator, on PORT. Nothing else is served, so nothing needs signing in.
 */
import { createServer } from 'node:http';
import type { Registry } from 'prom-client';
import type { Sql } from '../db/client.ts';
import { connectHost } from '../shared/config.ts';
import { scrapeAuthorized } from '../shared/credentials.ts';

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(options: {
  port: number;
  /** The address to listen on (HOST). */
  host: string;
  metrics: Registry;
  /** The bearer token /metrics requires (METRICS_TOKEN); open without one. */
  metricsToken?: string | undefined;
  healthy: () => Promise<{ ok: boolean; [part: string]: unknown }>;
}): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const answer = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET') return answer(405, 'application/json', '{"message":"GET only"}');
    if (path === '/metrics') {
      if (!scrapeAuthorized(req.headers.authorization, options.metricsToken)) {
        return answer(401, 'application/json', '{"message":"metrics need the scrape token (METRICS_TOKEN)"}');
      }
      options.metrics.metrics().then(
        (body) => answer(200, options.metrics.contentType, body),
        () => answer(500, 'application/json', '{"message":"metrics failed"}'),
      );
      return;
    }
    if (path === '/health' || path === '/api/health') {
      options.healthy().then(
        (h) =>
          answer(
            h.ok ? 200 : 503,
            'application/json',
            JSON.stringify({ status: h.ok ? 'ok' : 'degraded', ...h }),
          ),
        () => answer(503, 'application/json', '{"status":"degraded"}'),
      );
      return;
    }
    answer(404, 'application/json', '{"message":"only /metrics and /health here"}');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new Error(`HTTP port ${options.port} is already in use. Set PORT to a free port.`)
          : e,
      ),
    );
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${connectHost(options.host)}:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Healthy when the database answers and the ingest worker, if this process runs one, is connected. */
export async function opsHealth(db: Sql, ingest: { connected(): boolean } | null) {
  const database = await db.query('select 1').then(
    () => true,
    () => false,
  );
  const broker = ingest?.connected() ?? true;
  return { ok: database && broker, database, broker };
}
