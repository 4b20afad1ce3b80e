import { describe, expect, it } from 'vitest';
import { commandProgress } from './commandSteps.ts';

const tr = (from: string | null, to: string, at: string, actor = 'system') => ({
  from,
  to,
  at,
  actor,
  reason: '',
  policy: null,
});

describe('command timeline', () => {
  it('marks the steps reached up to the current state, with who and when', () => {
    const p = commandProgress({
      state: 'SENT',
      transitions: [
        tr(null, 'REQUESTED', '2026-03-01T10:00:00Z', 'risk1'),
        tr('REQUESTED', 'APPROVED', '2026-03-01T10:05:00Z', 'risk2'),
        tr('APPROVED', 'QUEUED', '2026-03-01T10:05:01Z'),
        tr('QUEUED', 'SENT', '2026-03-01T10:05:02Z'),
      ],
    });
    expect(p.steps.map((s) => [s.state, s.reached])).toEqual([
      ['REQUESTED', true],
      ['APPROVED', true],
      ['QUEUED', true],
      ['SENT', true],
      ['ACKED', false],
      ['EXECUTED', false],
    ]);
    expect(p.steps[1]).toMatchObject({ actor: 'risk2', at: '2026-03-01T10:05:00Z' });
    expect(p.done).toBe(false);
  });

  it('counts a skipped approval as passed and keeps the latest resend', () => {
    const p = commandProgress({
      state: 'EXECUTED',
      transitions: [
        tr(null, 'REQUESTED', 't1'),
        tr('REQUESTED', 'QUEUED', 't2'),
        tr('QUEUED', 'SENT', 't3'),
        tr('SENT', 'SENT', 't4'),
        tr('SENT', 'ACKED', 't5'),
        tr('ACKED', 'EXECUTED', 't6'),
      ],
    });
    expect(p.steps.every((s) => s.reached)).toBe(true);
    expect(p.steps[1]!.at).toBeNull();
    expect(p.steps[3]!.at).toBe('t4');
    expect(p.done).toBe(true);
  });

  it('shows where a refused command ended', () => {
    const p = commandProgress({
      state: 'REJECTED',
      transitions: [tr(null, 'REQUESTED', 't1', 'risk1'), tr('REQUESTED', 'REJECTED', 't2', 'risk2')],
    });
    expect(p.steps.filter((s) => s.reached).map((s) => s.state)).toEqual(['REQUESTED']);
    expect(p.ending).toMatchObject({ state: 'REJECTED', actor: 'risk2' });
    expect(p.done).toBe(true);
  });
});
