/** The dead letters' answers (zod): what ingest could not use, one entry per rejected message. */
import { z } from 'zod';

export const DeadLetterSchema = z.object({
  id: z.string(),
  receivedAt: z.string().describe('ISO 8601, when the broker handed the message to ingest'),
  topic: z.string(),
  deviceId: z.string().nullable().describe('null when the topic names no device'),
  reason: z.string().describe("the first problem's reason"),
  reasons: z.record(z.string(), z.number().int()).describe('problems counted by reason'),
  examples: z.array(z.string()).describe('the first problems in words'),
  payload: z.string().describe("the payload's first bytes (1 KB) as text"),
  payloadBytes: z.number().int().describe("the whole payload's size"),
});

export const DeadLetterPageSchema = z.object({
  rejects: z.array(DeadLetterSchema).describe('newest first'),
  next: z.string().nullable().describe('pass as before for the next (older) page; null at the end'),
});

export type DeadLetter = z.infer<typeof DeadLetterSchema>;
export type DeadLetterPage = z.infer<typeof DeadLetterPageSchema>;
