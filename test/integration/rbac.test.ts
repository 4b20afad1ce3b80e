/**
 * The access matrix, pinned: every route of the app called as every role in each kind of scope and
 * without a token, against a hand-written table of the status each must answer and, for the lists,
 * which contracts, machines or devices come back. Nothing here is read from the routes' own
 * declarations, so a route opened to a wrong role, or a list that forgets the scope, fails here.
 * A route the table does not list fails the coverage check: a new route needs its row.
 *
 * Two dealers, A and B, each with a stage-3 contract, its machine and box, an alert, a command and
 * audit entries; a third box on a machine without a contract. The agent is assigned to A's case
 * (and was to B's, but that assignment has ended).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../api/audit/log.ts';
import type { Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

const A: Scope = { kind: 'dealers', dealerIds: ['DLR-A'] };
const ALL: Scope = { kind: 'all' };

/** The columns of the tables below: who calls. */
const CALLERS = {
  coll: ['collector', ALL],
  collA: ['collector', A],
  agent: ['recovery_agent', { kind: 'assigned' }],
  risk: ['risk_manager', ALL],
  riskA: ['risk_manager', A],
  aud: ['auditor', ALL],
  audA: ['auditor', A],
  admin: ['admin', ALL],
} as const satisfies Record<string, readonly [Role, Scope]>;
type Caller = keyof typeof CALLERS;
const COLUMNS = ['anon', ...Object.keys(CALLERS)] as ('anon' | Caller)[];

const HOUR = 3_600_000;
const REASON = { reason: 'calling about the overdue instalments' };

/**
 * route × caller → status. Ids: CON-A/CON-B contracts, MCH-* machines, DEV-* boxes (DEV-X on a
 * machine without a contract), CMD-A/CMD-B commands, :alertA/:alertB the alerts, :agent the agent.
 * Rows run top to bottom, columns left to right (so a write in one row is seen by the next).
 */
const STATUS = `
method route                                          body         anon coll collA agent risk riskA aud audA admin
GET    /api/auth/me                                   -            401  200  200   200   200  200   200 200  200
GET    /api/health                                    -            200  200  200   200   200  200   200 200  200
GET    /api/config                                    -            200  200  200   200   200  200   200 200  200
GET    /api/users                                     -            401  403  403   403   403  403   403 403  200
GET    /api/map/machines                              -            401  200  200   200   200  200   200 200  200
GET    /api/accounts                                  -            401  200  200   200   200  200   200 200  200
GET    /api/contracts/CON-A                           -            401  200  200   200   200  200   200 200  200
GET    /api/contracts/CON-B                           -            401  200  404   404   200  404   200 404  200
GET    /api/contracts/NOPE                            -            401  404  404   404   404  404   404 404  404
GET    /api/contracts/CON-A/activities                -            401  200  200   200   200  200   200 200  200
GET    /api/contracts/CON-B/activities                -            401  200  404   404   200  404   200 404  200
GET    /api/contracts/CON-A/alerts                    -            401  200  200   200   200  200   200 200  200
GET    /api/contracts/CON-B/alerts                    -            401  200  404   404   200  404   200 404  200
GET    /api/contracts/CON-A/assignments               -            401  200  200   200   200  200   200 200  200
GET    /api/contracts/CON-B/assignments               -            401  200  404   404   200  404   200 404  200
GET    /api/alerts?status=all                         -            401  200  200   200   200  200   200 200  200
GET    /api/commands                                  -            401  200  200   200   200  200   200 200  200
GET    /api/commands/CMD-A                            -            401  200  200   200   200  200   200 200  200
GET    /api/commands/CMD-B                            -            401  200  404   404   200  404   200 404  200
GET    /api/devices/DEV-A                             -            401  200  200   200   200  200   200 200  200
GET    /api/devices/DEV-B                             -            401  200  404   404   200  404   200 404  200
GET    /api/devices/DEV-X                             -            401  200  404   404   200  404   200 404  200
GET    /api/devices/DEV-A/track                       -            401  200  200   200   200  200   200 200  200
GET    /api/devices/DEV-B/track                       -            401  200  404   404   200  404   200 404  200
GET    /api/machines/MCH-A/sites                      -            401  200  200   200   200  200   200 200  200
GET    /api/machines/MCH-B/sites                      -            401  200  404   404   200  404   200 404  200
GET    /api/machines/MCH-A/history                    -            401  200  200   200   200  200   200 200  200
GET    /api/machines/MCH-B/history                    -            401  200  404   404   200  404   200 404  200
GET    /api/recovery/nearest?lat=34.2&lon=117.1&minStage=0 -       401  200  200   200   200  200   200 200  200
GET    /api/audit?limit=1000                          -            401  403  403   403   403  403   200 200  200
GET    /api/audit/verify                              -            401  403  403   403   403  403   200 200  200
GET    /api/geofences                                 -            401  200  200   200   200  200   200 200  200
GET    /api/geofences/999999                          -            401  404  404   404   404  404   404 404  404
GET    /api/geofences/999999/events                   -            401  404  404   404   404  404   404 404  404
POST   /api/geofences                                 {}           401  403  403   403   400  400   403 403  400
PUT    /api/geofences/999999                          {}           401  403  403   403   400  400   403 403  400
DELETE /api/geofences/999999                          -            401  403  403   403   404  404   403 403  404
POST   /api/contracts/CON-A/reveal                    reason       401  200  200   200   200  200   403 403  403
POST   /api/contracts/CON-B/reveal                    reason       401  200  404   404   200  404   403 403  403
POST   /api/contracts/CON-B/reveal                    {}           401  400  400   400   400  400   403 403  403
POST   /api/contracts/CON-A/activities                call         401  201  201   201   201  201   403 403  403
POST   /api/contracts/CON-B/activities                call         401  201  404   404   201  404   403 403  403
POST   /api/contracts/CON-A/payments                  payment      401  200  200   403   200  200   403 403  200
POST   /api/contracts/CON-B/payments                  payment      401  200  404   403   200  404   403 403  200
POST   /api/contracts/CON-B/payments/PAY-1/confirm    {}           401  403  403   403   409  404   403 403  403
POST   /api/contracts/CON-B/payments/PAY-1/reverse    bounce       401  403  403   403   200  404   403 403  409
POST   /api/payments/import                           csv          401  200  200   403   200  200   403 403  200
POST   /api/alerts/:alertB/acknowledge                {}           401  200  404   404   200  404   403 403  200
POST   /api/contracts/CON-B/assignments               assign       401  403  403   403   201  404   403 403  403
POST   /api/contracts/CON-B/assignments/3/revoke      -            401  403  403   403   200  404   403 403  403
POST   /api/contracts/CON-B/dispute-override          override     401  403  403   403   201  404   403 403  403
POST   /api/commands                                  commandB     401  403  403   403   422  404   403 403  403
POST   /api/commands/CMD-B/approve                    {}           401  403  403   403   409  404   403 403  403
POST   /api/commands/CMD-B/reject                     {}           401  403  403   403   200  404   403 403  403
POST   /api/commands/CMD-A/cancel                     cancel       401  403  403   403   200  200   403 403  403
POST   /api/contracts                                 {}           401  403  403   403   400  400   403 403  400
POST   /api/contracts/import                          csv          401  403  403   403   400  403   403 403  400
POST   /api/devices                                   {}           401  403  403   403   403  403   403 403  400
POST   /api/devices/DEV-X/disable                     -            401  403  403   403   403  403   403 403  200
POST   /api/devices/DEV-X/enable                      -            401  403  403   403   403  403   403 403  200
PUT    /api/users/:agent/scope                        assigned     401  403  403   403   403  403   403 403  200
POST   /api/auth/unlock                               unlock       401  403  403   403   403  403   403 403  200
GET    /api/ingest/rejects                            -            401  403  403   403   403  403   403 403  200
POST   /api/auth/revoke                               revoke       401  403  403   403   403  403   403 403  404
POST   /api/devices/DEV-X/roll-key                    reason       401  403  403   403   403  403   403 403  200
POST   /api/devices/rewrap-keys                       -            401  403  403   403   403  403   403 403  200
POST   /api/auth/login                                {}           400  400  400   400   400  400   400 400  400
`;

/**
 * What the lists hold for each caller: the seed ids of one kind (CON contracts, MCH machines, DEV
 * devices; for the audit, the contracts its entries are about) found in the answer. `-` nothing.
 */
const LISTS = `
route                                               kind coll           collA  agent  risk           riskA  aud            audA   admin
/api/accounts?pageSize=500                          CON  A,B            A      A      A,B            A      A,B            A      A,B
/api/map/machines                                   DEV  A,B,X          A      A      A,B,X          A      A,B,X          A      A,B,X
/api/recovery/nearest?lat=34.2&lon=117.1&minStage=0 MCH  A,B            A      A      A,B            A      A,B            A      A,B
/api/alerts?status=all                              CON  A,B            A      A      A,B            A      A,B            A      A,B
/api/commands                                       CON  A,B            A      A      A,B            A      A,B            A      A,B
/api/audit?limit=1000                               CON  -              -      -      -              -      A,B            A      A,B
`;

describe(`access matrix: role × scope × route (${engineName})`, () => {
  let t: TestApp;
  const tokens = new Map<Caller, string>();
  const names = new Map<Caller, string>();
  const vars = new Map<string, string>();

  const bodies = (): Record<string, unknown> => ({
    reason: REASON,
    call: { kind: 'call', channel: 'phone', outcome: 'no answer' },
    payment: { date: '2026-01-05', amount: 10_000, reference: 'PAY-1' },
    bounce: { reason: 'the bank returned it' },
    csv: 'contract_number,date,amount,reference\n',
    assign: { agent: names.get('agent'), until: new Date(Date.now() + 48 * HOUR).toISOString(), ...REASON },
    override: { reason: 'the dispute was settled in writing' },
    commandB: { contractId: 'CON-B', type: 'locate', reason: 'where is it now' },
    cancel: { reason: 'not needed any more' },
    assigned: { kind: 'assigned' },
    revoke: { username: 'nobody-of-this-platform' },
    unlock: { username: 'nobody-here' },
  });

  beforeAll(async () => {
    t = await startTestApp();
    await seed(t);
    const callers = Object.entries(CALLERS) as [Caller, readonly [Role, Scope]][];
    const signed = await Promise.all(
      callers.map(([, [role, scope]]) => signedInAs(t.app, t.db, role, scope)),
    );
    for (const [i, [caller]] of callers.entries()) {
      tokens.set(caller, signed[i]!.token);
      names.set(caller, signed[i]!.user.username);
    }
    const agentId = (
      await t.db.query<{ id: string }>('select id::text from app_user where username = $1', [
        names.get('agent'),
      ])
    ).rows[0]!.id;
    // Sent to A's case for two days; B's case ended yesterday (ids 1 and 2; the table adds 3 and revokes it).
    await t.db.query(
      `insert into case_assignment (contract_id, agent_id, assigned_by, assigned_at, assigned_until, reason)
       values ('CON-B', $1, 'seed', now() - interval '5 days', now() - interval '1 day', 'an earlier visit'),
              ('CON-A', $1, 'seed', now() - interval '1 hour', now() + interval '2 days', 'locate the machine')`,
      [agentId],
    );
    const { rows } = await t.db.query<{ id: string; contract_id: string }>(
      'select id::text, contract_id from alert order by id',
    );
    for (const r of rows) vars.set(`:alert${r.contract_id.slice(-1)}`, r.id);
    vars.set(':agent', names.get('agent')!);
  }, 180_000); // eight users' password hashes on a busy machine
  afterAll(async () => {
    await t?.close();
  });

  const call = (caller: 'anon' | Caller, method: string, url: string, body: string) => {
    const payload = body === '-' ? undefined : body === '{}' ? {} : bodies()[body];
    const isCsv = typeof payload === 'string';
    return t.app.inject({
      method: method as 'GET',
      url: url.replace(/:[a-zA-Z]+[AB]?/g, (v) => vars.get(v) ?? v),
      headers: {
        ...(caller === 'anon' ? {} : authHeader(tokens.get(caller)!)),
        ...(isCsv ? { 'content-type': 'text/csv' } : {}),
      },
      ...(payload === undefined ? {} : { payload: payload as string }),
    });
  };

  const statusRows = STATUS.trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const [method, route, body, ...codes] = line.trim().split(/\s+/);
      return { method: method!, route: route!, body: body!, codes: codes.map(Number) };
    });

  it('has a row for every route the app registers', () => {
    const pattern = (url: string) => new RegExp(`^${url.replace(/:[A-Za-z]+/g, '[^/?]+')}(\\?.*)?$`);
    const missing = t.app.routeAccess
      .filter((r) => r.method !== 'HEAD' && (r.url.startsWith('/api/') || r.url === '/metrics'))
      .filter((r) => r.url !== '/metrics')
      // Signing out ends the caller's own tokens, which the rest of the matrix needs: sessions.test.ts.
      .filter((r) => r.url !== '/api/auth/logout')
      .filter((r) => !statusRows.some((row) => row.method === r.method && pattern(r.url).test(row.route)))
      .map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
  });

  it('answers every route × caller with the pinned status', async () => {
    const wrong: string[] = [];
    for (const row of statusRows) {
      expect(row.codes, `${row.method} ${row.route}`).toHaveLength(COLUMNS.length);
      for (const [i, caller] of COLUMNS.entries()) {
        const res = await call(caller, row.method, row.route, row.body);
        if (res.statusCode !== row.codes[i]) {
          wrong.push(
            `${row.method} ${row.route} as ${caller}: ${res.statusCode} ${res.body.slice(0, 100)}, pinned ${row.codes[i]}`,
          );
        }
        // Every refusal says why, and a 404 for an id outside the scope reads as any unknown id.
        if (res.statusCode >= 400)
          expect(res.json(), `${row.route} ${caller}`).toEqual(
            expect.objectContaining({ message: expect.any(String) }),
          );
      }
    }
    expect(wrong).toEqual([]);
  });

  it('lists only what each scope holds', async () => {
    const wrong: string[] = [];
    const callers = Object.keys(CALLERS) as Caller[];
    for (const line of LISTS.trim().split('\n').slice(1)) {
      const [route, kind, ...cells] = line.trim().split(/\s+/);
      for (const [i, caller] of callers.entries()) {
        const res = await call(caller, 'GET', route!, '-');
        const text = res.statusCode === 200 ? res.body : '';
        const found = ['A', 'B', 'X']
          .filter((x) => new RegExp(`"[^"]*":"(contract:)?${kind}-${x}"`).test(text))
          .join(',');
        const expected = cells[i] === '-' ? '' : cells[i]!;
        if (found !== expected)
          wrong.push(`${route} as ${caller}: ${found || '-'}, pinned ${expected || '-'}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('gives a scoped auditor no entry about users or sign-ins', async () => {
    const res = await call('audA', 'GET', '/api/audit?limit=1000', '-');
    const subjects = (res.json() as { entries: { subject: string }[] }).entries.map((e) => e.subject);
    expect(subjects.length).toBeGreaterThan(0);
    expect(subjects.filter((s) => !s.startsWith('contract:CON-A') && !s.startsWith('command:CMD-A'))).toEqual(
      [],
    );
  });
});

/** Dealers A and B, a stage-3 contract each with machine, box, position, alert, command and audit rows. */
async function seed(t: TestApp) {
  const q = (sql: string, params: unknown[] = []) => t.db.query(sql, params);
  const at = new Date(Date.now() - HOUR).toISOString();
  for (const [x, n] of [
    ['A', 1],
    ['B', 2],
    ['X', 3],
  ] as const) {
    await q(`insert into device (id, token_hash) values ($1, null)`, [`DEV-${x}`]);
    await q(
      `insert into machine (id, make, model, type, serial) values ($1, 'Sany', 'SY215C', 'excavator', $2)`,
      [`MCH-${x}`, `PIN-${x}`],
    );
    await q(`insert into installation (device_id, machine_id, installed_at) values ($1, $2, '2020-01-01')`, [
      `DEV-${x}`,
      `MCH-${x}`,
    ]);
    const lat = 34.2 + n / 100;
    await q(
      `insert into latest_position (device_id, ts, received_at, lat, lon, ign) values ($1, $2, $2, $3, 117.1, false)`,
      [`DEV-${x}`, at, lat],
    );
    await q(
      `insert into telemetry (device_id, ts, received_at, lat, lon, fix, ign) values ($1, $2, $2, $3, 117.1, true, false)`,
      [`DEV-${x}`, at, lat],
    );
    if (x === 'X') continue;
    await q(`insert into dealer (id, name) values ($1, $2)`, [`DLR-${x}`, `Dealer ${x}`]);
    await q(`insert into customer (id, name, phone, national_id) values ($1, $2, $3, $4)`, [
      `CU-${x}`,
      `Customer ${x}`,
      `1380000000${n}`,
      `33010219800101123${n}`,
    ]);
    await q(
      `insert into contract (id, number, kind, dealer_id, customer_id, machine_id, principal, start_date, term_months, stage)
       values ($1, $1, 'loan', $2, $3, $4, 100000000, '2025-01-01', 36, 3)`,
      [`CON-${x}`, `DLR-${x}`, `CU-${x}`, `MCH-${x}`],
    );
    // Three instalments long overdue: the account stays at stage 3 whatever the table books on it.
    await q(
      `insert into instalment (contract_id, seq, due_date, principal)
       select $1, s, date '2025-01-01' + s * interval '1 month', 5000000 from generate_series(1, 3) s`,
      [`CON-${x}`],
    );
    await q(
      `insert into alert (kind, device_id, machine_id, contract_id, raised_at, last_seen_at) values ('power_cut', $1, $2, $3, $4, $4)`,
      [`DEV-${x}`, `MCH-${x}`, `CON-${x}`, at],
    );
    await q(
      `insert into command (id, device_id, contract_id, type, state, reason, requested_by, profile, expires_at)
       values ($1, $2, $3, 'locate', 'REQUESTED', 'seed', 'seed', 'default', now() + interval '1 day')`,
      [`CMD-${x}`, `DEV-${x}`, `CON-${x}`],
    );
    await t.db.transaction((tx) =>
      appendAudit(tx, { actor: 'seed', action: 'test.seed', subject: `contract:CON-${x}`, detail: {} }),
    );
  }
}
