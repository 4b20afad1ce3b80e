/**
 * One machine's recent history for the map's side panel: the box's health from its newest report
 * and the daily engine hours and distance (telemetry_daily) of the devices installed on it.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { HistorySchema } from '../../shared/api/location.ts';
import { localDate } from '../../shared/calendar-date.ts';
import { PLATFORM_TIME_ZONE } from '../../shared/config.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { machineDays, machineExists, machineHealth } from './queries.ts';

export interface MachineHistoryRoutesOptions {
  db: Database;
  now?: (() => number) | undefined;
}

const DAY = 86_400_000;
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

const localDay = (ms: number) => localDate(ms, PLATFORM_TIME_ZONE);

export const machineHistoryRoutes: FastifyPluginAsync<MachineHistoryRoutesOptions> = async (
  base,
  options,
) => {
  const app = zodRoutes(base);
  const { db } = options;
  const now = options.now ?? Date.now;

  app.get(
    '/machines/:id/history',
    {
      config: { access: ALL_ROLES, limit: 'tracks', scopedBy: 'machine' },
      schema: {
        tags: ['location'],
        summary: 'A machine’s device health now and its daily engine hours and distance over the last days',
        params: IdParamsSchema,
        querystring: z.object({ days: z.coerce.number().int().min(1).max(90).default(30) }),
        response: { 200: HistorySchema, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params;
      const at = now();
      const from = localDay(at - (request.query.days - 1) * DAY);
      const to = localDay(at);
      if (!(await machineExists(db, id))) throw notFound(`machine ${id}`);
      const h = await machineHealth(db, id);
      const days = await machineDays(db, id, from);
      return {
        machineId: id,
        from,
        to,
        health: h
          ? {
              deviceId: h.device_id,
              lastFixAt: new Date(h.ts).toISOString(),
              receivedAt: new Date(h.received_at).toISOString(),
              online: h.online,
              ign: h.ign,
              spd: h.spd,
              hrs: h.hrs,
              pwr: h.pwr,
              bat: h.bat,
              rssi: h.rssi,
              rly: h.rly,
              alarms: h.alm ?? [],
            }
          : null,
        days: days.map((r) => ({
          day: r.day,
          engineHours: Math.round(Number(r.engine_hours ?? 0) * 100) / 100,
          distanceKm: Math.round(Number(r.distance_km) * 10) / 10,
          reports: Number(r.reports),
        })),
      };
    },
  );
};
