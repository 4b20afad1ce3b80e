/**
 * One person does not undo what two decided: an approved command may be cancelled only by its
 * requester or an approver, and an emergency release that nobody has approved yet cancels nothing.
 * Both once went the other way (any risk manager cancelled anyone's approved immobilize; an
 * unapproved emergency-release request cancelled it too).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CommandDesk, openCommandDesk } from '../support/command-desk.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

const run = `${process.pid}${Date.now() % 100000}`;

describe(`four eyes on GPS-stop commands (${engineName})`, () => {
  let platform: TestPlatform;
  let desk: CommandDesk;
  const api: CommandDesk['api'] = (...args) => desk.api(...args);
  const state = async (id: string) => (await api('risk1', 'GET', `/api/commands/${id}`)).body.state as string;

  /** An approved immobilize (risk1 requested, risk2 approved) on a box that is away. */
  const approvedImmobilize = async (n: number) => {
    const b = await desk.stage3Box(n);
    // The box is never connected: nothing goes out, the command stays APPROVED.
    const imm = await api('risk1', 'POST', '/api/commands', {
      contractId: b.contractId,
      type: 'immobilize',
      reason: 'stage 3',
    });
    expect(imm.status).toBe(201);
    expect((await api('risk2', 'POST', `/api/commands/${imm.body.id}/approve`, { note: 'ok' })).status).toBe(
      200,
    );
    await platform.current.dispatchPass!();
    expect(await state(imm.body.id)).toBe('APPROVED');
    return { box: b, id: imm.body.id as string };
  };

  beforeAll(async () => {
    platform = await startTestPlatform();
    desk = await openCommandDesk(
      platform,
      { risk1: 'risk_manager', risk2: 'risk_manager', risk3: 'risk_manager', admin: 'admin' },
      `FE${run}`,
    );
  });
  afterAll(async () => {
    await desk?.close();
    await platform?.teardown();
  });

  it('lets only the requester or an approver cancel an approved command', async () => {
    const { id } = await approvedImmobilize(1);
    const third = await api('risk3', 'POST', `/api/commands/${id}/cancel`, { reason: 'I disagree' });
    expect(third.status).toBe(403);
    expect(third.body.message).toMatch(/only the requester \(.+\) or an approver \(.+\)/);
    expect(await state(id)).toBe('APPROVED');
    const approver = await api('risk2', 'POST', `/api/commands/${id}/cancel`, {
      reason: 'customer paid cash',
    });
    expect(approver.status).toBe(200);
    expect(await state(id)).toBe('CANCELLED');

    const other = await approvedImmobilize(2);
    expect(
      (await api('risk1', 'POST', `/api/commands/${other.id}/cancel`, { reason: 'withdrawn' })).status,
    ).toBe(200);
  });

  it('cancels nothing with an emergency release until a second person approves it', async () => {
    const { box, id } = await approvedImmobilize(3);
    const release = await api('risk3', 'POST', '/api/commands', {
      contractId: box.contractId,
      type: 'release',
      reason: 'emergency: the customer says the machine is needed',
    });
    expect(release.status).toBe(201);
    expect(release.body).toMatchObject({ state: 'REQUESTED', emergency: true });
    expect(await state(id)).toBe('APPROVED'); // one person's request undid nothing
    // Approved by a second person, the release supersedes the immobilize.
    expect(
      (await api('risk1', 'POST', `/api/commands/${release.body.id}/approve`, { note: 'seen the note' }))
        .status,
    ).toBe(200);
    expect(await state(id)).toBe('CANCELLED');
  });
});
