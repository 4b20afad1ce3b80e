/**
 * Prometheus scrape endpoint: everything on the registry main.ts passes in — process metrics, and
 * the ingest metrics when ingest runs in this process. An ingest-only process (ROLES=ingest) serves
 * the same registry from ingest/http.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { scrapeAuthorized } from '../../shared/credentials.ts';

export const metricsRoutes: FastifyPluginAsync<{ registry: Registry; token?: string | undefined }> = async (
  app,
  { registry, token },
) => {
  // Not a user's route: Prometheus has no user, so no sign-in; with METRICS_TOKEN it sends that
  // token as a bearer (its `authorization` setting), without one the api serves /metrics only on
  // the embedded database (api/start.ts). Counts and latencies only, no names or positions.
  app.get('/metrics', { config: { access: 'public' } }, async (request, reply) => {
    if (!scrapeAuthorized(request.headers.authorization, token)) {
      return reply
        .status(401)
        .header('www-authenticate', 'Bearer realm="metrics"')
        .send({ message: 'metrics need the scrape token (METRICS_TOKEN) as a bearer token' });
    }
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
};
