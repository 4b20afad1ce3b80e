/** For a field agent's phone: the overdue machines nearest to where the agent stands. */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { NearestSchema } from '../../shared/api/location.ts';
import { bearingDeg, compassPoint, distanceM, LatSchema, LonSchema, toDisplay } from '../../shared/geo.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { ErrorSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { DatumSchema } from './machine-routes.ts';
import { recoveryCandidates } from './queries.ts';

export interface RecoveryRoutesOptions {
  db: Database;
}

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema };

export const recoveryRoutes: FastifyPluginAsync<RecoveryRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  const { db } = options;

  app.get(
    '/recovery/nearest',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['location'],
        summary:
          'Machines of accounts at minStage or above, nearest first from a point (WGS-84), with distance and bearing',
        querystring: z.object({
          lat: z.coerce.number().pipe(LatSchema),
          lon: z.coerce.number().pipe(LonSchema),
          minStage: z.coerce.number().int().min(0).max(3).default(3),
          limit: z.coerce.number().int().min(1).max(500).default(20),
          datum: DatumSchema,
        }),
        response: { 200: z.array(NearestSchema), ...errors },
      },
    },
    async (request) => {
      const { lat, lon, minStage, limit, datum } = request.query;
      const here = { lat, lon };
      const ranked = (await recoveryCandidates(db, minStage, request.viewer))
        .map((c) => ({ c, d: distanceM(here, c) }))
        .sort((a, b) => a.d - b.d || a.c.machineId.localeCompare(b.c.machineId))
        .slice(0, limit);
      return ranked.map(({ c, d }) => {
        const bearing = bearingDeg(here, c);
        const shown = toDisplay(c, datum);
        return {
          machineId: c.machineId,
          deviceId: c.deviceId,
          contractId: c.contractId,
          contractNumber: c.contractNumber,
          stage: c.stage,
          lat: shown.lat,
          lon: shown.lon,
          lastFixAt: c.ts,
          distanceM: Math.round(d),
          bearingDeg: Math.round(bearing),
          compass: compassPoint(bearing),
        };
      });
    },
  );
};
