/**
 * The location api's answers (zod): where to look for a machine, the nearest overdue machines, a
 * machine's history. The api serialises and documents them, the web app's types are inferred.
 */
import { z } from 'zod';
import { PLATFORM_TIME_ZONE } from '../config.ts';

export const SiteSchema = z.object({
  lat: z.number(),
  lon: z.number(),
  rank: z.number().int(),
  labels: z.array(z.enum(['night_parking', 'day_work_site', 'last_seen'])),
  visits: z.number().int(),
  dwellHours: z.number(),
  hourProfile: z.array(z.number()).length(24),
  firstVisit: z.string(),
  lastVisit: z.string(),
  confidence: z.number(),
});
export const SitesAnswerSchema = z.object({
  machineId: z.string(),
  at: z.string(),
  from: z.string(),
  datum: z.enum(['wgs84', 'gcj02']),
  sites: z.array(SiteSchema),
  bestNow: z
    .object({
      lat: z.number(),
      lon: z.number(),
      reason: z.enum(['live', 'usual_site_for_this_hour', 'last_seen_away', 'last_seen']),
      confidence: z.number(),
      siteRank: z.number().int().nullable(),
      note: z.string(),
    })
    .nullable(),
  lastFix: z.object({ lat: z.number(), lon: z.number(), ts: z.string(), moving: z.boolean() }).nullable(),
  heading: z.object({ bearingDeg: z.number(), speedKmh: z.number() }).nullable(),
  dark: z.boolean(),
});

export const NearestSchema = z.object({
  machineId: z.string(),
  deviceId: z.string(),
  contractId: z.string(),
  contractNumber: z.string(),
  stage: z.number().int(),
  lat: z.number(),
  lon: z.number(),
  lastFixAt: z.string(),
  distanceM: z.number(),
  bearingDeg: z.number(),
  compass: z.string(),
});

export const HealthSchema = z.object({
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

export const HistorySchema = z.object({
  machineId: z.string(),
  from: z.string().describe(`first local day asked for (${PLATFORM_TIME_ZONE}), YYYY-MM-DD`),
  to: z.string().describe('last local day asked for, YYYY-MM-DD'),
  health: HealthSchema.nullable().describe('the installed device with the newest fix; null = no fix yet'),
  days: z
    .array(
      z.object({
        day: z.string().describe(`YYYY-MM-DD, ${PLATFORM_TIME_ZONE}`),
        engineHours: z.number(),
        distanceKm: z.number(),
        reports: z.number().int(),
      }),
    )
    .describe('days with reports only, oldest first; a missing day had none'),
});

export type Site = z.infer<typeof SiteSchema>;
export type SitesAnswerView = z.infer<typeof SitesAnswerSchema>;
export type NearestMachine = z.infer<typeof NearestSchema>;
export type MachineHistory = z.infer<typeof HistorySchema>;
