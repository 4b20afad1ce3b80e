/**
 * Prometheus scrape endpoint: everything on the registry main.ts passes in — process metrics, and
 * the ingest metrics when ingest runs in this process. An ingest-only process (ROLES=ingest) serves
 * the same registry from ingest/http.ts.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';

export const metricsRoutes: FastifyPluginAsync<{ registry: Registry }> = async (app, { registry }) => {
  // Public, as Prometheus scrapes it without credentials: counts and latencies only, no names or
  // positions. Keep /metrics off the internet at the reverse proxy (docs/security.md).
  app.get('/metrics', { config: { access: 'public' } }, async (_request, reply) => {
    const body = await registry.metrics();
    return reply.type(registry.contentType).send(body);
  });
};
