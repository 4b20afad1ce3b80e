/**
 * The OpenAPI document, generated from the routes' zod schemas (fastify-type-provider-zod's
 * transform), served as JSON at /docs/json with a browsable page at /docs. Registered before the
 * routes so it sees them all. Outside /api: the description is served without sign-in (a browser
 * opening /docs has no bearer token), so it is on by default only on the embedded database, off
 * in production unless API_DOCS=on (shared/config.ts).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

function usesZod(schema: unknown): boolean {
  if (!schema || typeof schema !== 'object') return false;
  const { body, querystring, params, headers, response } = schema as Record<string, unknown>;
  const parts = [
    body,
    querystring,
    params,
    headers,
    ...Object.values((response as object | undefined) ?? {}),
  ];
  return parts.some((p) => typeof p === 'object' && p !== null && '_zod' in p);
}

export async function registerOpenApi(app: FastifyInstance, options: { ui: boolean }): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'Recovery telematics API',
        description:
          'Machines, contracts, accounts and collection records of the GPS telematics and repossession platform. ' +
          'Sign in with POST /api/auth/login and send the token as `Authorization: Bearer <token>`. ' +
          'Money is in integer fen (1 yuan = 100 fen).',
        version: '1',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ bearer: [] }],
    },
    // Routes with zod schemas are converted; routes with plain JSON schemas pass as they are.
    transform: (input) =>
      usesZod(input.schema) ? jsonSchemaTransform(input) : { schema: input.schema, url: input.url },
  });
  if (options.ui) await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
}
