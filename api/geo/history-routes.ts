/**
 * One machine's recent history for the map's side panel: the box's health from its newest report
 * and the daily engine hours and distance (telemetry_daily) of the devices installed on it.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { ALL_ROLES } from '../../shared/roles.ts';
import { ErrorSchema, IdParamsSchema } from '../contracts/schemas.ts';
import { notFound } from '../http/errors.ts';
import { zodRoutes } from '../http/zod-routes.ts';

export interface MachineHistoryRoutesOptions {
  db: Database;
  now?: (() => number) | undefined;
}

const DAY = 86_400_000;
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

const HealthSchema = z.object({
  deviceId: z.string(),
  lastFixAt: z.string().describe('device time of the newest usable fix'),
  receivedAt: z.string(),
  online: z.boolean().nullable().describe('the broker connection as last reported; null = never said'),
  ign: z.boolean().nullable(),
  spd: z.number().nullable(),
  hrs: z.number().nullable(),
  pwr: z.number().nullable().describe('supply voltage (V)'),
  bat: z.number().nullable().describe('backup battery (V)'),
  rssi: z.number().nullable().describe('signal (dBm)'),
  rly: z.boolean().nullable(),
  alarms: z.array(z.string()),
});

const HistorySchema = z.object({
  machineId: z.string(),
  from: z.string().describe('first local day asked for (Asia/Shanghai), YYYY-MM-DD'),
  to: z.string().describe('last local day asked for, YYYY-MM-DD'),
  health: HealthSchema.nullable().describe('the installed device with the newest fix; null = no fix yet'),
  days: z
    .array(
      z.object({
        day: z.string().describe('YYYY-MM-DD, Asia/Shanghai'),
        engineHours: z.number(),
        distanceKm: z.number(),
        reports: z.number().int(),
      }),
    )
    .describe('days with reports only, oldest first; a missing day had none'),
});

const shanghaiDay = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);

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
      config: { access: ALL_ROLES },
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
      const from = shanghaiDay(at - (request.query.days - 1) * DAY);
      const to = shanghaiDay(at);
      const machine = await db.query('select 1 from machine where id = $1', [id]);
      if (machine.rows.length === 0) throw notFound(`machine ${id}`);

      const health = await db.query<{
        device_id: string;
        ts: Date;
        received_at: Date;
        online: boolean | null;
        ign: boolean | null;
        spd: number | null;
        hrs: number | null;
        pwr: number | null;
        bat: number | null;
        rssi: number | null;
        rly: boolean | null;
        alm: string[] | null;
      }>(
        `select lp.device_id, lp.ts, lp.received_at, ds.online, lp.ign, lp.spd, lp.hrs, lp.pwr, lp.bat,
                lp.rssi, lp.rly, lp.alm
         from installation i
         join latest_position lp on lp.device_id = i.device_id
         left join device_status ds on ds.device_id = i.device_id
         where i.machine_id = $1 and i.removed_at is null
         order by lp.ts desc limit 1`,
        [id],
      );
      // A day counts for the machine while a device was installed on it that day.
      const days = await db.query<{
        day: string;
        engine_hours: number | null;
        distance_km: number;
        reports: number;
      }>(
        `select to_char(d.day at time zone 'Asia/Shanghai', 'YYYY-MM-DD') as day,
                sum(coalesce(d.engine_hours, 0))::float8 as engine_hours,
                sum(d.distance_km)::float8 as distance_km,
                sum(d.reports)::int as reports
         from installation i
         join telemetry_daily d on d.device_id = i.device_id
         where i.machine_id = $1
           and d.day >= ($2::date)::timestamp at time zone 'Asia/Shanghai'
           and d.day + interval '1 day' > i.installed_at
           and (i.removed_at is null or d.day < i.removed_at)
         group by 1 order by 1`,
        [id, from],
      );
      const h = health.rows[0];
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
        days: days.rows.map((r) => ({
          day: r.day,
          engineHours: Math.round(Number(r.engine_hours ?? 0) * 100) / 100,
          distanceKm: Math.round(Number(r.distance_km) * 10) / 10,
          reports: Number(r.reports),
        })),
      };
    },
  );
};
