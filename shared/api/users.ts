/**
 * A user's scope as the api reads it (zod). Kept out of shared/scope.ts, which the web app imports:
 * zod in the browser probes for eval, which the Content-Security-Policy refuses.
 */
import { z } from 'zod';

export const ScopeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }),
  z.object({
    kind: z.literal('dealers'),
    dealerIds: z.array(z.string().trim().min(1).max(64)).min(1).max(500),
  }),
  z.object({ kind: z.literal('assigned') }),
]);
