/**
 * GET /api/ingest/rejects: the dead letters, for admins finding out why a box's reports were
 * refused. Read-only; ingest writes them and deletes them after DEAD_LETTER_RETENTION_DAYS.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { listDeadLetters } from '../../db/dead-letters.ts';
import { DeadLetterPageSchema } from '../../shared/api/ingest.ts';
import type { Role } from '../../shared/roles.ts';
import { HttpError } from '../http/errors.ts';
import { ErrorSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';

const READERS: Role[] = ['admin'];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema };

const ListQuerySchema = z.object({
  device: z.string().trim().min(1).max(64).optional().describe('only this device id'),
  reason: z
    .string()
    .regex(/^[a-z_]{1,40}$/, 'reason is a word like schema, malformed_json, future_time')
    .optional()
    .describe('only dead letters with at least one problem of this reason'),
  since: z.iso.datetime({ offset: true }).optional().describe('received at or after'),
  until: z.iso.datetime({ offset: true }).optional().describe('received before'),
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'before is the next value of the previous page')
    .optional()
    .describe('only older than this id: the previous page’s next'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export const deadLetterRoutes: FastifyPluginAsync<{ db: Database }> = async (base, { db }) => {
  const app = zodRoutes(base);

  app.get(
    '/ingest/rejects',
    {
      config: { access: READERS },
      schema: {
        tags: ['ingest'],
        summary: 'Dead letters: messages ingest could not use, one per message, newest first',
        querystring: ListQuerySchema,
        response: { 200: DeadLetterPageSchema, ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      const since = q.since === undefined ? undefined : new Date(q.since);
      const until = q.until === undefined ? undefined : new Date(q.until);
      if (since && until && since >= until) throw new HttpError(400, 'since must be before until');
      const rejects = await listDeadLetters(db, {
        deviceId: q.device,
        reason: q.reason,
        since,
        until,
        before: q.before,
        limit: q.limit,
      });
      return { rejects, next: rejects.length === q.limit ? rejects[rejects.length - 1]!.id : null };
    },
  );
};
