/** Request and response shapes every feature's routes share: the error body and an id in the path. */
import { z } from 'zod';

/** What every 4xx and 5xx answer carries (api/app.ts's error handler); validation adds `errors`. */
export const ErrorSchema = z.object({ message: z.string(), errors: z.unknown().optional() });

export const IdParamsSchema = z.object({ id: z.string().trim().min(1).max(64) });
