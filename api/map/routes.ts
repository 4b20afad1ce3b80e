import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import type { BBox, Stage } from '../../shared/map.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { findMachines } from './queries.ts';

const QuerySchema = z.object({
  minStage: z.coerce.number().int().min(0).max(3).optional(),
  bbox: z
    .string()
    .transform((s) => s.split(',').map(Number))
    .refine(
      (a) => a.length === 4 && a.every(Number.isFinite),
      'bbox must be four numbers: west,south,east,north',
    )
    .refine(
      ([w, s, e, n]) =>
        w! >= -180 && w! <= 180 && e! >= -180 && e! <= 180 && s! >= -90 && n! <= 90 && s! <= n!,
      'bbox: longitudes -180..180, latitudes -90..90, south <= north',
    )
    .optional(),
  dealer: z
    .string()
    .trim()
    .min(1, 'dealer must be a dealer id')
    .max(64, 'dealer: at most 64 characters')
    .optional(),
  province: z
    .string()
    .trim()
    .min(1, 'province must be a province name')
    .max(100, 'province: at most 100 characters')
    .optional(),
});

const nullable = (type: string) => ({ type: [type, 'null'] });
/** JSON Schema of the response: documents it, and lets fastify serialise 20,000 features fast. */
const MachineCollectionSchema = {
  type: 'object',
  required: ['type', 'features'],
  properties: {
    type: { type: 'string', enum: ['FeatureCollection'] },
    features: {
      type: 'array',
      items: {
        type: 'object',
        required: ['type', 'geometry', 'properties'],
        properties: {
          type: { type: 'string', enum: ['Feature'] },
          id: { type: 'string' },
          geometry: {
            type: 'object',
            properties: {
              type: { type: 'string', enum: ['Point'] },
              coordinates: { type: 'array', items: { type: 'number' }, description: '[lon, lat], WGS-84' },
            },
          },
          properties: {
            type: 'object',
            properties: {
              deviceId: { type: 'string' },
              machineId: nullable('string'),
              contractId: nullable('string'),
              contractNumber: nullable('string'),
              customer: nullable('string'),
              dealerId: nullable('string'),
              dealer: nullable('string'),
              province: { ...nullable('string'), description: "the dealer's province" },
              stage: nullable('integer'),
              lastSeen: { type: 'string', description: 'device time of the newest usable fix' },
              ign: nullable('boolean'),
              spd: nullable('number'),
              hrs: nullable('number'),
              rly: nullable('boolean'),
            },
          },
        },
      },
    },
  },
} as const;

const schema = {
  tags: ['map'],
  summary: "Every machine's newest fix with its contract and stage, as GeoJSON",
  querystring: {
    type: 'object',
    properties: {
      minStage: {
        type: 'string',
        description: 'only machines whose account is at this stage (0-3) or above',
      },
      bbox: { type: 'string', description: 'west,south,east,north in WGS-84 degrees' },
      dealer: {
        type: 'string',
        description: "only machines whose contract is with this dealer (the dealer's id)",
      },
      province: {
        type: 'string',
        description: "only machines whose dealer is in this province (the dealer's province, exact)",
      },
    },
  },
  response: {
    200: MachineCollectionSchema,
    400: { type: 'object', properties: { message: { type: 'string' }, errors: { type: 'array' } } },
  },
};

export const mapRoutes: FastifyPluginAsync<{ db: Database }> = async (app, { db }) => {
  app.get('/map/machines', { schema, config: { access: ALL_ROLES } }, async (request, reply) => {
    const q = QuerySchema.safeParse(request.query);
    if (!q.success) {
      return reply.status(400).send({
        message: 'invalid query',
        errors: q.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
      });
    }
    return findMachines(db, request.viewer, {
      minStage: q.data.minStage as Stage | undefined,
      bbox: q.data.bbox as BBox | undefined,
      dealerId: q.data.dealer,
      province: q.data.province,
    });
  });
};
