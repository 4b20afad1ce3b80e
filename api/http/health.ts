import type { FastifyPluginAsync } from 'fastify';

export interface HealthProbe {
  broker(): { connected: boolean; embedded: boolean };
  database(): Promise<{ ok: boolean; engine: string }>;
}

export const healthRoutes: FastifyPluginAsync<{ probe: HealthProbe }> = async (app, { probe }) => {
  app.get(
    '/health',
    {
      config: { access: 'public' },
      schema: {
        tags: ['platform'],
        summary: 'Whether the api reaches the broker and the database (503 when not)',
        response: {
          200: {
            type: 'object',
            required: ['status', 'broker', 'database'],
            properties: {
              status: { type: 'string', enum: ['ok'] },
              broker: {
                type: 'object',
                properties: { connected: { type: 'boolean' }, embedded: { type: 'boolean' } },
              },
              database: {
                type: 'object',
                properties: { ok: { type: 'boolean' }, engine: { type: 'string' } },
              },
            },
          },
          503: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['degraded'] },
              broker: { type: 'object', additionalProperties: true },
              database: { type: 'object', additionalProperties: true },
            },
          },
        },
      },
    },
    async (_request, reply) => {
      const broker = probe.broker();
      const database = await probe.database();
      const ok = broker.connected && database.ok;
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', broker, database });
    },
  );
};
