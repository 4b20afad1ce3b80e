/**
 * Personal data by need and the record of who may see what: phones masked for the roles that do
 * not call customers, the national id masked for everyone until an audited reveal with a reason;
 * assigning an agent to a case (and ending it) is on the audit chain and bounds what the agent
 * sees; a scope is set by an admin and audited; customer ids say nothing about the customer.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listAudit } from '../../api/audit/log.ts';
import type { Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

const NATIONAL_ID = '330102198001011234';
const PHONE = '13812345678';
const GUARANTOR_PHONE = '13987654321';
const HOUR = 3_600_000;
let clock = Date.parse('2026-06-15T04:00:00Z');

describe(`scopes and personal data (${engineName})`, () => {
  let t: TestApp;
  const users: Record<string, { token: string; username: string }> = {};
  let contractId = '';

  const api = async (who: string, method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown) => {
    const res = await t.app.inject({
      method,
      url,
      headers: authHeader(users[who]!.token),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    // biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
    return { status: res.statusCode, body: res.json() as any };
  };

  beforeAll(async () => {
    t = await startTestApp({ now: () => clock });
    await t.db.query(
      `insert into machine (id, make, model, type, serial) values ('MCH-S1', 'XCMG', 'XE215', 'excavator', 'PIN-S1')`,
    );
    const who: [string, Role, Scope][] = [
      ['risk', 'risk_manager', { kind: 'all' }],
      ['collector', 'collector', { kind: 'all' }],
      ['auditor', 'auditor', { kind: 'all' }],
      ['admin', 'admin', { kind: 'all' }],
      ['agent', 'recovery_agent', { kind: 'assigned' }],
    ];
    for (const [name, role, scope] of who) {
      const s = await signedInAs(t.app, t.db, role, scope);
      users[name] = { token: s.token, username: s.user.username };
    }
    const created = await api('risk', 'POST', '/api/contracts', {
      number: 'HT-SCOPE-1',
      kind: 'loan',
      principal: 12_000_000,
      startDate: '2026-01-01',
      termMonths: 12,
      customer: { name: '王建国', phone: PHONE, nationalId: NATIONAL_ID },
      guarantors: [{ name: '李梅', phone: GUARANTOR_PHONE, relation: 'spouse' }],
      dealer: { id: 'D-S', name: 'Dealer S' },
      machineId: 'MCH-S1',
    });
    expect(created.status).toBe(200);
    contractId = created.body.id;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('never builds a customer id from the national id', async () => {
    const { rows } = await t.db.query<{ id: string }>(
      'select cu.id from contract c join customer cu on cu.id = c.customer_id where c.id = $1',
      [contractId],
    );
    expect(rows[0]!.id).toBe('CU-HT-SCOPE-1');
    expect(rows[0]!.id).not.toContain(NATIONAL_ID.slice(-6));
  });

  it('masks the national id for every role and the phones for those who do not call', async () => {
    const seen: Record<string, unknown> = {};
    for (const who of ['risk', 'collector', 'auditor', 'admin']) {
      const { status, body } = await api(who, 'GET', `/api/contracts/${contractId}`);
      expect(status, who).toBe(200);
      seen[who] = {
        nationalId: body.customer.nationalId,
        phone: body.customer.phone,
        guarantor: body.guarantors[0].phone,
        masked: body.masked,
      };
    }
    const callers = {
      nationalId: '3301**********1234',
      phone: PHONE,
      guarantor: GUARANTOR_PHONE,
      masked: { phone: false, nationalId: true },
    };
    const readers = {
      nationalId: '3301**********1234',
      phone: '138****5678',
      guarantor: '139****4321',
      masked: { phone: true, nationalId: true },
    };
    expect(seen).toEqual({ risk: callers, collector: callers, auditor: readers, admin: readers });

    const accounts = await api('auditor', 'GET', '/api/accounts');
    expect(accounts.body.items.map((i: { phone: string }) => i.phone)).toEqual(['138****5678']);
    const forCollector = await api('collector', 'GET', '/api/accounts');
    expect(forCollector.body.items.map((i: { phone: string }) => i.phone)).toEqual([PHONE]);
  });

  it('reveals the full values only with a reason, and writes who, when and why to the audit chain', async () => {
    const without = await api('collector', 'POST', `/api/contracts/${contractId}/reveal`, {});
    expect(without.status).toBe(400);
    const short = await api('collector', 'POST', `/api/contracts/${contractId}/reveal`, { reason: 'x' });
    expect(short.status).toBe(400);
    const auditor = await api('auditor', 'POST', `/api/contracts/${contractId}/reveal`, {
      reason: 'checking the file for the court',
    });
    expect(auditor.status).toBe(403);

    const before = (await listAudit(t.db, 0, 10_000)).length;
    const reason = 'lawyer letter needs the national id';
    const revealed = await api('collector', 'POST', `/api/contracts/${contractId}/reveal`, { reason });
    expect(revealed).toEqual({
      status: 200,
      body: {
        contractId,
        customer: { phone: PHONE, nationalId: NATIONAL_ID },
        guarantors: [{ name: '李梅', phone: GUARANTOR_PHONE }],
      },
    });
    const entries = (await listAudit(t.db, 0, 10_000)).slice(before);
    expect(entries.map((e) => [e.actor, e.action, e.subject, e.detail.reason])).toEqual([
      [users.collector!.username, 'personal_data.reveal', `contract:${contractId}`, reason],
    ]);
    // The value itself is not copied into the chain.
    expect(JSON.stringify(entries)).not.toContain(NATIONAL_ID);
  });

  it('lets an agent see a case only while assigned, and records the assignment and its end', async () => {
    const hidden = await api('agent', 'GET', `/api/contracts/${contractId}`);
    expect(hidden.status).toBe(404);
    expect((await api('agent', 'GET', '/api/accounts')).body.items).toEqual([]);

    const until = new Date(clock + 48 * HOUR).toISOString();
    const bad = await api('risk', 'POST', `/api/contracts/${contractId}/assignments`, {
      agent: users.collector!.username,
      until,
      reason: 'find the machine this week',
    });
    expect(bad).toMatchObject({ status: 400, body: { message: expect.stringContaining('recovery agent') } });
    const past = await api('risk', 'POST', `/api/contracts/${contractId}/assignments`, {
      agent: users.agent!.username,
      until: new Date(clock - HOUR).toISOString(),
      reason: 'find the machine this week',
    });
    expect(past.status).toBe(400);

    const before = (await listAudit(t.db, 0, 10_000)).length;
    const assigned = await api('risk', 'POST', `/api/contracts/${contractId}/assignments`, {
      agent: users.agent!.username,
      until,
      reason: 'find the machine this week',
    });
    expect(assigned).toMatchObject({
      status: 201,
      body: {
        contractId,
        agent: users.agent!.username,
        assignedBy: users.risk!.username,
        until,
        revokedAt: null,
        active: true,
      },
    });
    const visible = await api('agent', 'GET', `/api/contracts/${contractId}`);
    expect(visible.status).toBe(200);
    // The agent calls the customer before a visit: the phone in full, the national id masked.
    expect(visible.body.customer).toMatchObject({ phone: PHONE, nationalId: '3301**********1234' });
    expect((await api('agent', 'GET', '/api/accounts')).body.items).toHaveLength(1);

    // Past its end the case is gone again, without anyone revoking it.
    clock += 49 * HOUR;
    expect((await api('agent', 'GET', `/api/contracts/${contractId}`)).status).toBe(404);
    clock -= 49 * HOUR;
    expect((await api('agent', 'GET', `/api/contracts/${contractId}`)).status).toBe(200);

    const revoked = await api(
      'risk',
      'POST',
      `/api/contracts/${contractId}/assignments/${assigned.body.id}/revoke`,
    );
    expect(revoked).toMatchObject({ status: 200, body: { revokedBy: users.risk!.username, active: false } });
    expect((await api('agent', 'GET', `/api/contracts/${contractId}`)).status).toBe(404);

    const entries = (await listAudit(t.db, 0, 10_000)).slice(before);
    expect(entries.map((e) => [e.actor, e.action, e.subject])).toEqual([
      [users.risk!.username, 'case.assigned', `contract:${contractId}`],
      [users.risk!.username, 'case.unassigned', `contract:${contractId}`],
    ]);
    expect(entries[0]!.detail).toMatchObject({ agent: users.agent!.username, until });
  });

  it('has an admin set a scope (audited), effective at the next request', async () => {
    expect((await api('collector', 'GET', `/api/contracts/${contractId}`)).status).toBe(200);
    const bad = await api('admin', 'PUT', `/api/users/${users.collector!.username}/scope`, {
      kind: 'dealers',
      dealerIds: [],
    });
    expect(bad.status).toBe(400);
    const unknown = await api('admin', 'PUT', '/api/users/no-such-user/scope', { kind: 'all' });
    expect(unknown.status).toBe(404);

    const set = await api('admin', 'PUT', `/api/users/${users.collector!.username}/scope`, {
      kind: 'dealers',
      dealerIds: ['D-OTHER'],
    });
    expect(set).toMatchObject({ status: 200, body: { scope: { kind: 'dealers', dealerIds: ['D-OTHER'] } } });
    expect((await api('collector', 'GET', `/api/contracts/${contractId}`)).status).toBe(404);
    const me = await api('collector', 'GET', '/api/auth/me');
    expect(me.body.scope).toEqual({ kind: 'dealers', dealerIds: ['D-OTHER'] });
    const [entry] = (await listAudit(t.db, 0, 10_000)).filter((e) => e.action === 'user.scope');
    expect(entry).toMatchObject({
      actor: users.admin!.username,
      subject: `user:${users.collector!.username}`,
      detail: { from: { kind: 'all' }, to: { kind: 'dealers', dealerIds: ['D-OTHER'] } },
    });
  });

  it('lists and shows a contract geofence only to those who see the contract; global ones to all', async () => {
    // The collector's scope is dealer D-OTHER now (the test above); the contract is dealer D-S's.
    const circle = (name: string, contract?: string) => ({
      name,
      purpose: 'yard',
      shape: { type: 'Circle', center: { lat: 34.2, lon: 117.1 }, radiusM: 500 },
      ...(contract ? { contractId: contract } : {}),
    });
    const own = await api('risk', 'POST', '/api/geofences', circle('Yard of the case', contractId));
    expect(own.status).toBe(201);
    const global = await api('risk', 'POST', '/api/geofences', circle('Depot'));
    expect(global.status).toBe(201);
    const names = async (who: string) =>
      ((await api(who, 'GET', '/api/geofences')).body as { name: string }[]).map((g) => g.name).sort();
    expect(await names('risk')).toEqual(['Depot', 'Yard of the case']);
    expect(await names('collector')).toEqual(['Depot']);
    expect((await api('collector', 'GET', `/api/geofences/${own.body.id}`)).status).toBe(404);
    expect((await api('collector', 'GET', `/api/geofences/${own.body.id}/events`)).status).toBe(404);
    expect((await api('collector', 'GET', `/api/geofences/${global.body.id}`)).status).toBe(200);
  });
});
