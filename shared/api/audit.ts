/** The audit api's answers (zod): the api serialises and documents them, the web app's types are inferred. */
import { z } from 'zod';

const Hash = z.string().regex(/^[0-9a-f]{64}$/);

export const AuditVerifySchema = z.object({
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

export const AuditEntrySchema = z.object({
  seq: z.number().int(),
  at: z.string().describe('ISO 8601, milliseconds, UTC'),
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  detail: z.record(z.string(), z.unknown()),
  prevHash: Hash,
  hash: Hash,
});

export const AuditPageSchema = z.object({
  entries: z.array(AuditEntrySchema),
  next: z.number().int().nullable().describe('pass as after for the next page; null at the end'),
});

export type AuditVerify = z.infer<typeof AuditVerifySchema>;
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export type AuditPage = z.infer<typeof AuditPageSchema>;
