/**
 * A command's progress as the timeline shows it: the lifecycle's steps in order, each reached (with
 * when and by whom) or not yet, and the end it came to if it stopped early. Pure.
 */
import type { CommandView } from '../../../shared/api/commands.ts';

export const LIFECYCLE = ['REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED', 'EXECUTED'] as const;
export const ENDINGS = ['REJECTED', 'CANCELLED', 'EXPIRED', 'FAILED'] as const;

export interface Step {
  state: string;
  reached: boolean;
  at: string | null;
  actor: string | null;
  reason: string | null;
}

export interface Progress {
  steps: Step[];
  /** REJECTED, CANCELLED, EXPIRED or FAILED, when the command ended there. */
  ending: Step | null;
  done: boolean;
}

export function commandProgress(c: Pick<CommandView, 'state' | 'transitions'>): Progress {
  // A state may be entered more than once (a resend): the timeline shows the latest entry.
  const last = new Map<string, CommandView['transitions'][number]>();
  for (const tr of c.transitions) last.set(tr.to, tr);
  const step = (state: string): Step => {
    const tr = last.get(state);
    return {
      state,
      reached: tr !== undefined,
      at: tr?.at ?? null,
      actor: tr?.actor ?? null,
      reason: tr?.reason ?? null,
    };
  };
  // Steps a command skipped (a release needing no approval goes REQUESTED → QUEUED) count as
  // passed once a later step is reached.
  const furthest = Math.max(-1, ...LIFECYCLE.map((s, i) => (last.has(s) || c.state === s ? i : -1)));
  const steps = LIFECYCLE.map((s, i) => {
    const st = step(s);
    return i <= furthest ? { ...st, reached: true } : st;
  });
  const endState = (ENDINGS as readonly string[]).includes(c.state) ? c.state : null;
  return {
    steps,
    ending: endState ? step(endState) : null,
    done: c.state === 'EXECUTED' || endState !== null,
  };
}
