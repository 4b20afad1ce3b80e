/**
 * The demo's recovery agent is an agent like any other: the platform started as `npm start` starts
 * it (demo sign-ins, a simulated fleet with its contracts) sends it to the fleet's stage-3 cases as
 * real assignments, with an end date, in the audit chain; signed in as `agent`, the accounts list,
 * the map and one contract by id show those cases and nothing else, and a restart adds no second
 * assignment. A demo agent made by an earlier version with the scope `all` is narrowed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDemoUsers } from '../../api/auth/demo-users.ts';
import { createUser, findUserByUsername, setUserScope } from '../../api/auth/users.ts';
import { DEMO_ASSIGNER, DEMO_ASSIGNMENT_DAYS } from '../../api/contracts/demo-assignments.ts';
import type { AccountsPage, CaseAssignment } from '../../shared/api/contracts.ts';
import type { MachineCollection } from '../../shared/map.ts';
import { deviceIdFor, deviceTokenFor, seedTokenKey } from '../../simulators/identity.ts';
import { authHeader, loginAs } from '../support/auth.ts';
import { forgetDevices, runUnique } from '../support/broker-sessions.ts';
import { engineName, realBroker, scratchDatabase } from '../support/engines.ts';
import { demoSignIns, startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const SIM_DEVICES = 30;
const TOKEN_KEY = seedTokenKey(42);
const ID_PREFIX = runUnique('DEMO');
const DAY = 86_400_000;

describe(`the demo recovery agent (${engineName})`, () => {
  let platform: TestPlatform;
  let stage3: string[] = [];
  let others: string[] = [];
  let active = 0;

  const get = async <T>(path: string, as: string): Promise<{ status: number; body: T }> => {
    const { token } = await loginAs(platform.url, as);
    const res = await fetch(new URL(path, platform.url), { headers: authHeader(token) });
    return { status: res.status, body: (await res.json()) as T };
  };
  const assignmentRows = async () =>
    (
      await platform.db.query<{ contract_id: string }>(
        `select a.contract_id from case_assignment a join app_user u on u.id = a.agent_id
         where u.username = 'agent' order by a.contract_id`,
      )
    ).rows.map((r) => r.contract_id);

  beforeAll(async () => {
    platform = await startTestPlatform({
      SIM_DEVICES,
      SIM_SEED: 42,
      SIM_TOKEN_KEY: TOKEN_KEY,
      SIM_ID_PREFIX: ID_PREFIX,
    });
    await demoSignIns(platform.current);
    const { rows } = await platform.db.query<{ id: string; stage: number; active: boolean }>(
      `select id, stage, status = 'active' as active from contract order by id`,
    );
    active = rows.filter((r) => r.active).length;
    stage3 = rows.filter((r) => r.stage === 3).map((r) => r.id);
    others = rows.filter((r) => r.stage !== 3).map((r) => r.id);
  });
  afterAll(async () => {
    await platform?.teardown();
    if (realBroker) {
      await forgetDevices(
        realBroker,
        Array.from({ length: SIM_DEVICES }, (_, i) => ({
          deviceId: deviceIdFor(i, ID_PREFIX),
          token: deviceTokenFor(TOKEN_KEY, deviceIdFor(i, ID_PREFIX)),
        })),
      );
    }
  });

  it('lists only its stage-3 cases, where the desk sees the whole fleet', async () => {
    expect(stage3.length).toBeGreaterThan(0);
    expect(others.length).toBeGreaterThan(0);
    const desk = await get<AccountsPage>('/api/accounts?pageSize=500', 'collector');
    expect(desk.body.total).toBe(active);
    expect(active).toBeGreaterThan(stage3.length);

    const agent = await get<AccountsPage>('/api/accounts?pageSize=500', 'agent');
    expect(agent.status).toBe(200);
    expect(agent.body.items.map((i) => i.contractId).sort()).toEqual(stage3);
    expect(agent.body.total).toBe(stage3.length);
    expect(agent.body.items.every((i) => i.stage === 3)).toBe(true);
  });

  it('answers 404 for a case it is not sent to, as for one that does not exist', async () => {
    const outside = await get<{ message: string }>(`/api/contracts/${others[0]}`, 'agent');
    const missing = await get<{ message: string }>('/api/contracts/CT-NOT-THERE', 'agent');
    expect(outside.status).toBe(404);
    expect(missing.status).toBe(404);
    expect(outside.body.message.replace(others[0]!, 'ID')).toBe(
      missing.body.message.replace('CT-NOT-THERE', 'ID'),
    );
    const inside = await get<{ id: string }>(`/api/contracts/${stage3[0]}`, 'agent');
    expect(inside.status).toBe(200);
    expect(inside.body.id).toBe(stage3[0]);
  });

  it('puts only the machines of its cases on its map', async () => {
    const { rows } = await platform.db.query<{ machine_id: string }>(
      'select machine_id from contract where id = any($1::text[]) order by machine_id',
      [stage3],
    );
    const mapOf = async (as: string) =>
      (await get<MachineCollection>('/api/map/machines', as)).body.features.map(
        (f) => f.properties.machineId,
      );
    // Once the fleet has reported more machines than the agent has cases, the desk sees them all.
    await waitFor(async () => (await mapOf('collector')).length > rows.length, {
      timeoutMs: 60_000,
      everyMs: 500,
      what: 'the simulated fleet to report',
    });
    const machines = await mapOf('agent');
    expect(machines.length).toBeGreaterThan(0);
    expect(machines.filter((m) => !rows.some((r) => r.machine_id === m))).toEqual([]);
  });

  it('is sent by real assignments with an end date, each in the audit chain', async () => {
    const started = Date.now();
    const { body } = await get<CaseAssignment[]>(`/api/contracts/${stage3[0]}/assignments`, 'risk1');
    expect(body).toHaveLength(1);
    const [a] = body;
    expect(a).toMatchObject({ agent: 'agent', assignedBy: DEMO_ASSIGNER, active: true, revokedAt: null });
    const lasts = Date.parse(a!.until) - Date.parse(a!.assignedAt);
    expect(lasts).toBe(DEMO_ASSIGNMENT_DAYS * DAY);
    expect(Date.parse(a!.until)).toBeGreaterThan(started);

    const { rows } = await platform.db.query<{ subject: string; actor: string }>(
      `select subject, actor from audit_log where action = 'case.assigned' order by subject`,
    );
    expect(rows).toEqual(stage3.map((id) => ({ subject: `contract:${id}`, actor: DEMO_ASSIGNER })));
    const verify = await get<{ ok: boolean }>('/api/audit/verify', 'auditor');
    expect(verify.body.ok).toBe(true);
  });

  it('keeps its running assignments over a restart, adding none, and does not undo a revocation', async () => {
    expect(await assignmentRows()).toEqual(stage3);
    const taken = stage3.at(-1)!;
    const [running] = (await get<CaseAssignment[]>(`/api/contracts/${taken}/assignments`, 'risk1')).body;
    const { token } = await loginAs(platform.url, 'risk1');
    const revoked = await fetch(
      new URL(`/api/contracts/${taken}/assignments/${running!.id}/revoke`, platform.url),
      {
        method: 'POST',
        headers: { ...authHeader(token), 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'another agent takes it' }),
      },
    );
    expect(revoked.status).toBe(200);
    await platform.restart();
    await demoSignIns(platform.current);
    expect(await assignmentRows()).toEqual(stage3);
    const agent = await get<AccountsPage>('/api/accounts?pageSize=500', 'agent');
    expect(agent.body.items.map((i) => i.contractId).sort()).toEqual(stage3.filter((id) => id !== taken));
  });
});

describe(`a demo agent made with the scope all by an earlier version (${engineName})`, () => {
  it('is narrowed to its assigned cases at the next start, unless its scope was set on purpose', async () => {
    const scratch = await scratchDatabase();
    const db = await scratch.open();
    try {
      const agent = {
        username: 'agent',
        name: 'Wang Lei',
        roles: ['recovery_agent' as const],
        password: 'demo',
      };
      await createUser(db, { ...agent, scope: { kind: 'all' } }, 'system:demo-users');
      await ensureDemoUsers(db);
      expect((await findUserByUsername(db, 'agent'))?.scope).toEqual({ kind: 'assigned' });
      const { rows } = await db.query<{ actor: string }>(
        `select actor from audit_log where action = 'user.scope' and subject = 'user:agent'`,
      );
      expect(rows).toEqual([{ actor: 'system:demo-users' }]);

      await setUserScope(db, 'agent', { kind: 'all' }, 'admin');
      await ensureDemoUsers(db);
      expect((await findUserByUsername(db, 'agent'))?.scope).toEqual({ kind: 'all' });
    } finally {
      await db.close();
      await scratch.drop();
    }
  });
});
