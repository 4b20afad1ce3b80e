/** The dispatcher's steps one at a time: reading a box's ack (pure). */
import { describe, expect, it } from 'vitest';
import { readAck } from '../../api/commands/dispatch-steps.ts';

const ack = (value: unknown) =>
  readAck(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));

describe('readAck', () => {
  it('reads the three answers of protocol v1', () => {
    for (const status of ['accepted', 'done', 'refused'] as const) {
      expect(ack({ id: 'c1', status })).toEqual({ id: 'c1', status });
    }
    expect(ack({ id: 'c1', status: 'refused', reason: 'moving' })).toEqual({
      id: 'c1',
      status: 'refused',
      reason: 'moving',
    });
  });

  it("takes the earlier revision's { ok: false } as a refusal", () => {
    expect(ack({ id: 'c1', ok: false, reason: 'bad signature' })).toMatchObject({
      id: 'c1',
      status: 'refused',
      reason: 'bad signature',
    });
  });

  it('returns null for anything else', () => {
    for (const bad of [
      'not json',
      'null',
      '[]',
      { status: 'done' },
      { id: 7, status: 'done' },
      { id: 'c1' },
    ]) {
      expect(ack(bad), JSON.stringify(bad)).toBeNull();
    }
    expect(ack({ id: 'c1', status: 'maybe' })).toBeNull();
  });
});
