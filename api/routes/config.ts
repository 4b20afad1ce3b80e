import type { FastifyPluginAsync } from 'fastify';

/** What the web app needs to know at start: the basemap (null = the offline one shipped with it). */
export const configRoutes: FastifyPluginAsync<{ mapStyleUrl: string | null }> = async (
  app,
  { mapStyleUrl },
) => {
  app.get(
    '/config',
    {
      config: { access: 'public' },
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['mapStyleUrl'],
            properties: { mapStyleUrl: { type: ['string', 'null'] } },
          },
        },
      },
    },
    async () => ({ mapStyleUrl }),
  );
};
