/**
 * "Where to look" for one machine: its stays over the last days clustered into sites, labelled
 * (night parking, day work site, last seen) and ranked, with the best place to look now — as JSON
 * for the app, or as GeoJSON, GPX or KML to take into the field.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { SitesAnswerSchema } from '../../shared/api/location.ts';
import { type DisplayDatum, toDisplay } from '../../shared/geo.ts';
import {
  EXPORT_CONTENT_TYPES,
  type ExportPlace,
  placesGeoJson,
  placesGpx,
  toKml,
} from '../../shared/geo-export.ts';
import { analyseTrail, type SitesAnswer } from '../../shared/geo-sites.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { machineTrail } from './queries.ts';

export interface MachineRoutesOptions {
  db: Database;
  now?: (() => number) | undefined;
}

const DAY = 86_400_000;
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

export const DatumSchema = z
  .enum(['wgs84', 'gcj02'])
  .default('wgs84')
  .describe(
    'coordinates of the answer: WGS-84 (GPS, storage) or GCJ-02 (Chinese map tiles, navigation apps)',
  );

/** Every position of the answer in the display datum. */
function inDatum(a: SitesAnswer, datum: DisplayDatum): SitesAnswer {
  const move = <T extends { lat: number; lon: number }>(p: T): T => ({ ...p, ...toDisplay(p, datum) });
  return {
    ...a,
    sites: a.sites.map(move),
    bestNow: a.bestNow && move(a.bestNow),
    lastFix: a.lastFix && move(a.lastFix),
  };
}

function places(machineId: string, a: SitesAnswer): ExportPlace[] {
  const out: ExportPlace[] = a.sites.map((s) => ({
    lat: s.lat,
    lon: s.lon,
    name: `${machineId} site ${s.rank}${s.labels.length > 0 ? ` (${s.labels.join(', ')})` : ''}`,
    description: `${s.visits} visits, ${s.dwellHours} h, last ${s.lastVisit}, confidence ${s.confidence}`,
    properties: {
      rank: s.rank,
      labels: s.labels,
      visits: s.visits,
      lastVisit: s.lastVisit,
      confidence: s.confidence,
    },
  }));
  if (a.bestNow) {
    out.unshift({
      lat: a.bestNow.lat,
      lon: a.bestNow.lon,
      name: `${machineId} look here now`,
      description: a.bestNow.note,
      properties: { reason: a.bestNow.reason, confidence: a.bestNow.confidence },
    });
  }
  return out;
}

export const machineRoutes: FastifyPluginAsync<MachineRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  const { db } = options;
  const now = options.now ?? Date.now;

  app.get(
    '/machines/:id/sites',
    {
      config: { access: ALL_ROLES, scopedBy: 'machine' },
      schema: {
        tags: ['location'],
        summary:
          'Where to look: the machine’s sites (stays clustered, labelled, ranked) and the best place now',
        params: IdParamsSchema,
        querystring: z.object({
          days: z.coerce.number().int().min(1).max(90).default(30),
          at: z.iso.datetime({ offset: true }).optional().describe('the moment to answer for (default now)'),
          datum: DatumSchema,
          format: z.enum(['json', 'geojson', 'gpx', 'kml']).default('json'),
        }),
        response: { 200: z.union([SitesAnswerSchema, z.string()]), ...errors },
      },
    },
    async (request, reply) => {
      const { days, datum, format } = request.query;
      const at = request.query.at ? Date.parse(request.query.at) : now();
      const from = at - days * DAY;
      const trail = await machineTrail(db, request.params.id, from, at);
      if (!trail) throw notFound(`machine ${request.params.id}`);
      const answer = inDatum(analyseTrail(trail, at), datum);
      if (format === 'json') {
        return {
          machineId: request.params.id,
          at: new Date(at).toISOString(),
          from: new Date(from).toISOString(),
          datum,
          ...answer,
        };
      }
      const list = places(request.params.id, answer);
      const body =
        format === 'gpx'
          ? placesGpx(list)
          : format === 'kml'
            ? toKml(placesGeoJson(list))
            : JSON.stringify(placesGeoJson(list));
      return reply.type(EXPORT_CONTENT_TYPES[format]).send(body);
    },
  );
};
