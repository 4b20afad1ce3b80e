/**
 * The command api's answers (zod), written once: the api serialises and documents them, the web
 * app's types are inferred from them.
 */
import { z } from 'zod';
import { COMMAND_STATES } from '../commands.ts';
import { COMMAND_TYPES } from '../policy.ts';

export const EvaluationSchema = z.object({
  decision: z.enum(['allow', 'wait', 'deny']),
  reasons: z.array(z.string()),
  missing: z.array(z.string()),
});
export const TransitionSchema = z.object({
  from: z.string().nullable(),
  to: z.string(),
  at: z.string(),
  actor: z.string(),
  reason: z.string(),
  policy: EvaluationSchema.extend({ profile: z.string() }).nullable(),
});
export const CommandViewSchema = z.object({
  id: z.string(),
  deviceId: z.string(),
  contractId: z.string().nullable(),
  type: z.enum(COMMAND_TYPES),
  state: z.enum(COMMAND_STATES),
  reason: z.string(),
  requestedBy: z.string(),
  requestedAt: z.string(),
  profile: z.string(),
  emergency: z.boolean(),
  expiresAt: z.string(),
  attempts: z.number().int(),
  lastSentAt: z.string().nullable(),
  ackedAt: z.string().nullable(),
  ackReason: z.string().nullable(),
  executedAt: z.string().nullable(),
  /**
   * An engaged immobilize: when a decision is due — repossess, litigate or release (the profile's
   * decisionDays after it engaged). Null for anything else.
   */
  decideBy: z.string().nullable(),
  /** The policy's evaluation now (for a closed command: as it would be now). */
  evaluation: EvaluationSchema,
  approvals: z.array(
    z.object({ by: z.string(), decision: z.enum(['approve', 'reject']), note: z.string(), at: z.string() }),
  ),
  transitions: z.array(TransitionSchema),
});
export const CommandSummarySchema = CommandViewSchema.omit({
  evaluation: true,
  approvals: true,
  transitions: true,
});

export type Evaluation = z.infer<typeof EvaluationSchema>;
export type CommandView = z.infer<typeof CommandViewSchema>;
export type CommandSummary = z.infer<typeof CommandSummarySchema>;
