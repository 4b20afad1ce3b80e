/** The alert api's answers (zod): the api serialises and documents them, the web app's types are inferred. */
import { z } from 'zod';
import { ALERT_KINDS } from '../alerts.ts';

export const AlertSchema = z.object({
  id: z.string(),
  kind: z.enum(ALERT_KINDS),
  label: z.string(),
  deviceId: z.string(),
  machineId: z.string().nullable(),
  contractId: z.string().nullable(),
  status: z.enum(['open', 'cleared']),
  raisedAt: z.string(),
  lastSeenAt: z.string(),
  clearedAt: z.string().nullable(),
  occurrences: z.number().int(),
  lat: z.number().nullable(),
  lon: z.number().nullable(),
  detail: z.record(z.string(), z.unknown()),
  acknowledgedAt: z.string().nullable(),
  acknowledgedBy: z.string().nullable(),
  acknowledgedNote: z.string().nullable(),
});

/** An alert as the api answers it (shared/alerts.ts AlertView is the same shape, built by db/alerts.ts). */
export type AlertAnswer = z.infer<typeof AlertSchema>;
