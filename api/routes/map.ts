import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import type { BBox, Stage } from '../../shared/map.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { findMachines } from '../map/repository.ts';

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
});

export const mapRoutes: FastifyPluginAsync<{ db: Database }> = async (app, { db }) => {
  app.get('/map/machines', { config: { access: ALL_ROLES } }, async (request, reply) => {
    const q = QuerySchema.safeParse(request.query);
    if (!q.success) {
      return reply.status(400).send({
        message: 'invalid query',
        errors: q.error.issues.map((i) => ({ field: i.path.join('.'), message: i.message })),
      });
    }
    return findMachines(db, {
      minStage: q.data.minStage as Stage | undefined,
      bbox: q.data.bbox as BBox | undefined,
    });
  });
};
