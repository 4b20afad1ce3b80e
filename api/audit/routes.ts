/**
 * The audit log over HTTP, read-only: verifying the hash chain and paging through the entries.
 * For auditors and administrators; nothing here writes.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { AuditPageSchema, AuditVerifySchema } from '../../shared/api/audit.ts';
import type { Role } from '../../shared/roles.ts';
import { ErrorSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { listAudit, verifyAuditChain } from './log.ts';

export interface AuditRoutesOptions {
  db: Database;
}

const READERS: Role[] = ['auditor', 'admin'];

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema };
const ListQuerySchema = z.object({
  after: z.coerce.number().int().min(0).default(0).describe('entries with a greater seq'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const auditRoutes: FastifyPluginAsync<AuditRoutesOptions> = async (base, { db }) => {
  const app = zodRoutes(base);

  app.get(
    '/audit/verify',
    {
      config: { access: READERS },
      schema: {
        tags: ['audit'],
        summary: 'Verify the audit hash chain from the first entry; names the first broken link',
        response: { 200: AuditVerifySchema, ...errors },
      },
    },
    async () => verifyAuditChain(db),
  );

  app.get(
    '/audit',
    {
      config: { access: READERS },
      schema: {
        tags: ['audit'],
        summary: 'Audit log entries after a seq, oldest first, with their hashes',
        querystring: ListQuerySchema,
        response: {
          200: AuditPageSchema,
          ...errors,
        },
      },
    },
    async (request) => {
      const { after, limit } = request.query;
      const entries = await listAudit(db, after, limit, request.viewer);
      return {
        entries: entries.map((e) => ({ ...e, at: e.at.toISOString() })),
        next: entries.length === limit ? entries[entries.length - 1]!.seq : null,
      };
    },
  );
};
