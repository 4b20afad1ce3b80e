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
        tags: ['platform'],
        summary: 'What the web app needs at start: the basemap style URL (null = the offline basemap)',
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
