/** A device's trail between two moments as GeoJSON, GPX or KML (evidence, or a route to drive). */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { toDisplay } from '../../shared/geo.ts';
import {
  EXPORT_CONTENT_TYPES,
  EXPORT_FORMATS,
  toKml,
  trackGeoJson,
  trackGpx,
} from '../../shared/geo-export.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { DatumSchema } from './machine-routes.ts';
import { deviceTrack } from './queries.ts';

export interface TrackRoutesOptions {
  db: Database;
  now?: (() => number) | undefined;
}

const DAY = 86_400_000;
const MAX_SPAN_DAYS = 31;
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

export const trackRoutes: FastifyPluginAsync<TrackRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  const { db } = options;
  const now = options.now ?? Date.now;

  app.get(
    '/devices/:id/track',
    {
      config: { access: ALL_ROLES, limit: 'tracks', scopedBy: 'device' },
      schema: {
        tags: ['location'],
        summary: `A device's usable fixes between from and to (default the last 24 h, at most ${MAX_SPAN_DAYS} days) as GeoJSON, GPX or KML`,
        params: IdParamsSchema,
        querystring: z.object({
          from: z.iso.datetime({ offset: true }).optional(),
          to: z.iso.datetime({ offset: true }).optional(),
          format: z.enum(EXPORT_FORMATS).default('geojson'),
          datum: DatumSchema,
        }),
        response: { 200: z.string().describe('the file, in the format asked for'), ...errors },
      },
    },
    async (request, reply) => {
      const { format, datum } = request.query;
      const to = request.query.to ? Date.parse(request.query.to) : now();
      const from = request.query.from ? Date.parse(request.query.from) : to - DAY;
      if (from > to) throw new HttpError(400, 'from is after to');
      if (to - from > MAX_SPAN_DAYS * DAY)
        throw new HttpError(400, `at most ${MAX_SPAN_DAYS} days at a time`);
      const fixes = await deviceTrack(db, request.params.id, from, to, request.viewer);
      if (!fixes) throw notFound(`device ${request.params.id}`);
      const points = fixes.map((f) => ({ ...f, ...toDisplay(f, datum) }));
      const name = `${request.params.id} ${new Date(from).toISOString()} – ${new Date(to).toISOString()}`;
      const body =
        format === 'gpx'
          ? trackGpx(name, points)
          : format === 'kml'
            ? toKml(trackGeoJson(name, points))
            : JSON.stringify(trackGeoJson(name, points));
      return reply
        .type(EXPORT_CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="${request.params.id}-track.${format}"`)
        .send(body);
    },
  );
};
