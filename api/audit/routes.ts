/**
 * The audit log over HTTP, read-only: verifying the hash chain and paging through the entries.
 * For auditors and administrators; nothing here writes.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import type { Role } from '../../shared/roles.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { listAudit, verifyAuditChain } from './log.ts';

export interface AuditRoutesOptions {
  db: Database;
}

const READERS: Role[] = ['auditor', 'admin'];

const ErrorSchema = z.object({ message: z.string(), errors: z.unknown().optional() });
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema };
const Hash = z.string().regex(/^[0-9a-f]{64}$/);

const VerifySchema = z.object({
  ok: z.boolean().describe('true when every entry holds'),
  count: z.number().int().describe('entries checked'),
  firstBroken: z
    .object({
      seq: z.number().int(),
      reason: z.enum(['hash mismatch', 'prev_hash mismatch', 'gap in seq']),
    })
    .nullable()
    .describe('the first entry that does not hold'),
  head: z
    .object({ seq: z.number().int(), hash: Hash })
    .nullable()
    .describe('the last entry: keep it outside the database as an anchor'),
});

const EntrySchema = z.object({
  seq: z.number().int(),
  at: z.string().describe('ISO 8601, milliseconds, UTC'),
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  detail: z.record(z.string(), z.unknown()),
  prevHash: Hash,
  hash: Hash,
});

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
        response: { 200: VerifySchema, ...errors },
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
          200: z.object({
            entries: z.array(EntrySchema),
            next: z.number().int().nullable().describe('pass as after for the next page; null at the end'),
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { after, limit } = request.query;
      const entries = await listAudit(db, after, limit);
      return {
        entries: entries.map((e) => ({ ...e, at: e.at.toISOString() })),
        next: entries.length === limit ? entries[entries.length - 1]!.seq : null,
      };
    },
  );
};
