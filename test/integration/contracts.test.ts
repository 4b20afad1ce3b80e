/**
 * The finance API end to end on a real database (PGlite, or PostgreSQL with DATABASE_URL): contract
 * upsert and CSV import, payments that move the stage and announce it, collection records, and the
 * accounts list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { refreshDueAccounts } from '../../api/contracts/scheduler.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import type { StageChange } from '../../shared/live.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, createTestUser, loginAs } from '../support/auth.ts';

const DAY = 86_400_000;
let clock = Date.parse('2026-06-15T04:00:00Z'); // 12:00 in Shanghai
const announced: StageChange[] = [];
let t: TestApp;
const tokens: Record<string, string> = {};

async function call(role: string, method: 'GET' | 'POST', url: string, payload?: unknown, csv = false) {
  const res = await t.app.inject({
    method,
    url,
    headers: { ...authHeader(tokens[role] ?? ''), ...(csv ? { 'content-type': 'text/csv' } : {}) },
    ...(payload === undefined ? {} : { payload: payload as string }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked field by field below
  return { status: res.statusCode, body: res.json() as Record<string, any> };
}

/** A loan started 2026-01-01: 12 monthly instalments of 10,000 yuan at 0 %, first due 2026-02-01. */
const contract = (number: string, machineSerial: string, extra: Record<string, unknown> = {}) => ({
  number,
  kind: 'loan',
  principal: 12_000_000,
  startDate: '2026-01-01',
  termMonths: 12,
  graceDays: 3,
  penaltyRateBp: 5,
  customer: {
    name: '王建国',
    phone: '13800000001',
    nationalId: `32030219800101${number.slice(-4)}`,
    addresses: [
      { kind: 'home', address: '江苏省徐州市云龙区' },
      { kind: 'job_site', address: '徐州东站工地', lat: 34.21, lon: 117.28 },
    ],
  },
  guarantors: [{ name: '李梅', phone: '13900000002', relation: 'spouse' }],
  dealer: { id: 'D-XZ', name: '徐州工程机械', province: 'Jiangsu' },
  machineSerial,
  ...extra,
});

beforeAll(async () => {
  t = await startTestApp({ now: () => clock, onStageChanges: (c) => announced.push(...c) });
  await provisionDevices(
    t.db,
    ['A', 'B', 'C', 'D', 'E', 'F'].map((x) => ({
      deviceId: `DEV-${x}`,
      token: `token-${x}`.padEnd(32, '0'),
      machine: {
        id: `M-${x}`,
        make: 'Sany',
        model: 'SY215C',
        type: 'excavator',
        serial: `PIN-${x}`,
        year: 2024,
      },
    })),
  );
  for (const role of ['admin', 'risk_manager', 'collector', 'recovery_agent', 'auditor'] as const) {
    const u = await createTestUser(t.db, role);
    tokens[role] = (await loginAs(t.app, u.username, u.password)).token;
  }
});
afterAll(async () => {
  await t?.close();
});

describe('contracts', () => {
  it('a contract without payments, five instalments past due and grace, is at stage 3 with its figures', async () => {
    const res = await call('admin', 'POST', '/api/contracts', contract('HT-2026-0001', 'PIN-A'));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.created).toBe(true);
    const c = res.body.contract;
    // Due 02-01 … 06-01; on 06-15 all five are past the 3 grace days.
    expect(c.overdue).toMatchObject({
      stage: 3,
      overdueInstalments: 5,
      overdueAmount: 5_000_000,
      daysPastDue: 134,
    });
    expect(c.overdue.penalty).toBeGreaterThan(0);
    expect(c.instalments).toHaveLength(12);
    expect(c.machine).toMatchObject({ id: 'M-A', serial: 'PIN-A' });
    expect(c.installations).toEqual([expect.objectContaining({ deviceId: 'DEV-A', removedAt: null })]);
    expect(c.customer.addresses.map((a: { kind: string }) => a.kind)).toEqual(['home', 'job_site']);
    expect(c.nextAction).toMatchObject({ code: 'locate_and_tow', gpsStopEligible: true });
    expect(c.stageHistory).toEqual([expect.objectContaining({ from: null, to: 3 })]);
    expect(announced.at(-1)).toMatchObject({
      contractNumber: 'HT-2026-0001',
      from: null,
      to: 3,
      machineId: 'M-A',
    });

    const again = await call('auditor', 'GET', `/api/contracts/${res.body.id}`);
    expect(again.status).toBe(200);
    expect(again.body.overdue).toEqual(c.overdue);
  });

  it('posting the same number again updates the contract in place', async () => {
    const first = await call('admin', 'POST', '/api/contracts', contract('HT-2026-0002', 'PIN-B'));
    const second = await call(
      'risk_manager',
      'POST',
      '/api/contracts',
      contract('HT-2026-0002', 'PIN-B', { graceDays: 30 }),
    );
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, created: false });
    expect(second.body.contract.graceDays).toBe(30);
  });

  it('refuses bad input with the reasons and writes nothing', async () => {
    const bad = await call('admin', 'POST', '/api/contracts', {
      ...contract('HT-2026-0099', 'PIN-C'),
      principal: 10.5,
      startDate: '2026-02-30',
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body.errors)).toMatch(/principal/);
    expect(JSON.stringify(bad.body.errors)).toMatch(/startDate/);
    const noMachine = await call('admin', 'POST', '/api/contracts', contract('HT-2026-0098', 'PIN-NOPE'));
    expect(noMachine.status).toBe(422);
    expect(noMachine.body.message).toMatch(/no machine with serial PIN-NOPE/);
    const { rows } = await t.db.query(
      `select 1 from contract where number in ('HT-2026-0099', 'HT-2026-0098')`,
    );
    expect(rows).toEqual([]);
    expect((await call('admin', 'GET', '/api/contracts/nope')).status).toBe(404);
  });
});

describe('payments', () => {
  it('a payment that cures the account moves the stage down, records it and announces it', async () => {
    const created = await call('admin', 'POST', '/api/contracts', contract('HT-2026-0003', 'PIN-C'));
    const id = created.body.id as string;
    expect(created.body.contract.overdue.stage).toBe(3);
    const before = announced.length;

    const partial = await call('collector', 'POST', `/api/contracts/${id}/payments`, {
      date: '2026-06-14',
      amount: 2_500_000,
      reference: 'BANK-1',
    });
    expect(partial.status).toBe(200);
    // 2.5 of 5 overdue instalments paid, oldest first: 3 remain overdue (one part paid).
    expect(partial.body.contract.overdue).toMatchObject({ stage: 3, overdueInstalments: 3 });
    expect(partial.body.stageChange).toBeNull();

    const cure = await call('collector', 'POST', `/api/contracts/${id}/payments`, {
      date: '2026-06-15',
      amount: 2_500_000,
      reference: 'BANK-2',
    });
    expect(cure.status).toBe(200);
    expect(cure.body.contract.overdue).toMatchObject({ stage: 0, overdueInstalments: 0, overdueAmount: 0 });
    expect(cure.body.stageChange).toMatchObject({ from: 3, to: 0, reason: 'payment received' });
    expect(announced.slice(before)).toEqual([expect.objectContaining({ contractId: id, from: 3, to: 0 })]);
    const { rows } = await t.db.query<{ to_stage: number }>(
      'select to_stage from stage_change where contract_id = $1 order by id',
      [id],
    );
    expect(rows.map((r) => Number(r.to_stage))).toEqual([3, 0]);

    const replay = await call('collector', 'POST', `/api/contracts/${id}/payments`, {
      date: '2026-06-15',
      amount: 2_500_000,
      reference: 'BANK-2',
    });
    expect(replay.body).toMatchObject({ added: false, stageChange: null });
    expect(replay.body.contract.payments).toHaveLength(2);
  });

  it('refuses a payment dated in the future and a payment on an unknown contract', async () => {
    const created = await call('admin', 'POST', '/api/contracts', contract('HT-2026-0004', 'PIN-D'));
    const future = await call('collector', 'POST', `/api/contracts/${created.body.id}/payments`, {
      date: '2026-06-16',
      amount: 100,
      reference: 'X',
    });
    expect(future.status).toBe(422);
    const unknown = await call('collector', 'POST', '/api/contracts/nope/payments', {
      date: '2026-06-01',
      amount: 100,
      reference: 'X',
    });
    expect(unknown.status).toBe(404);
  });
});

describe('CSV import', () => {
  const header =
    'number,kind,principal,down_payment,start_date,term_months,grace_days,customer_name,customer_phone,guarantor_name,dealer_id,dealer_name,machine_serial';

  it('stores the good rows and reports each bad one by row number, changing nothing for them', async () => {
    // HT-2026-0002 exists (grace 30); row 4 tries to change it with a bad kind and must not.
    const csv = [
      header,
      'CSV-0001,finance_lease,"120,000.00",20000,2026-03-01,24,0,张三,13700000001,张妻,D-XZ,徐州工程机械,PIN-E',
      'CSV-0002,loan,abc,0,2026-03-01,24,0,李四,,,,,PIN-F',
      'CSV-0003,loan,50000,0,2026-03-01,24,0,王五,,,,,PIN-MISSING',
      'HT-2026-0002,lease,120000,0,2026-01-01,12,0,王建国,,,,,PIN-B',
      'CSV-0001,loan,1,0,2026-03-01,1,0,重复,,,,,PIN-E',
      'CSV-0006,loan,80000,0,2026-13-01,24,0,赵六,,,,,PIN-F',
      'CSV-0007,loan,80000,90000,2026-03-01,24,0,钱七,,,,,PIN-F',
    ].join('\n');
    const res = await call('risk_manager', 'POST', '/api/contracts/import', csv, true);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.accepted).toEqual([
      expect.objectContaining({ row: 1, line: 2, number: 'CSV-0001', created: true }),
    ]);
    const rejected = Object.fromEntries(
      res.body.rejected.map((r: { row: number; reason: string }) => [r.row, r.reason]),
    );
    expect(Object.keys(rejected).map(Number)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(rejected[2]).toMatch(/principal: not an amount in yuan: 'abc'/);
    expect(rejected[3]).toMatch(/no machine with serial PIN-MISSING/);
    expect(rejected[4]).toMatch(/kind/);
    expect(rejected[5]).toMatch(/already on row 1/);
    expect(rejected[6]).toMatch(/startDate/);
    expect(rejected[7]).toMatch(/downPayment: must not exceed principal/);

    const { rows } = await t.db.query<{
      number: string;
      principal: number;
      down_payment: number;
      kind: string;
    }>(
      `select number, principal::float8 as principal, down_payment::float8 as down_payment, kind from contract
       where number like 'CSV-%' or number = 'HT-2026-0002' order by number`,
    );
    expect(rows).toEqual([
      { number: 'CSV-0001', principal: 12_000_000, down_payment: 2_000_000, kind: 'finance_lease' },
      { number: 'HT-2026-0002', principal: 12_000_000, down_payment: 0, kind: 'loan' },
    ]);
    const { rows: grace } = await t.db.query<{ grace_days: number }>(
      `select grace_days from contract where number = 'HT-2026-0002'`,
    );
    expect(grace[0]?.grace_days).toBe(30);
    const { rows: customers } = await t.db.query(
      `select 1 from customer where name in ('李四', '王五', '赵六', '钱七', '重复')`,
    );
    expect(customers).toEqual([]);
  });

  it('refuses a file with missing or unknown columns as a whole', async () => {
    const res = await call('admin', 'POST', '/api/contracts/import', 'number,kind,colour\nX,loan,red', true);
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/missing columns: principal, start_date, term_months, customer_name/);
    expect(res.body.message).toMatch(/unknown columns: colour/);
  });

  it('imports payments idempotently by reference and reports bad rows', async () => {
    const csv = [
      'contract_number,date,amount,reference',
      'CSV-0001,2026-04-01,"5,000.00",IMP-1',
      'CSV-0001,2026-04-01,5000.001,IMP-2',
      'NOPE,2026-04-01,10,IMP-3',
      'CSV-0001,2026-04-01,5000,IMP-1',
    ].join('\n');
    const res = await call('collector', 'POST', '/api/payments/import', csv, true);
    expect(res.status).toBe(200);
    expect(res.body.accepted.map((r: { row: number; created: boolean }) => [r.row, r.created])).toEqual([
      [1, true],
      [4, false],
    ]);
    expect(res.body.rejected.map((r: { row: number }) => r.row)).toEqual([2, 3]);
    const { rows } = await t.db.query(
      `select reference from payment p join contract c on c.id = p.contract_id where c.number = 'CSV-0001'`,
    );
    expect(rows).toEqual([{ reference: 'IMP-1' }]);
  });
});

describe('collection records', () => {
  let id: string;
  beforeAll(async () => {
    const { rows } = await t.db.query<{ id: string }>(
      `select id from contract where number = 'HT-2026-0001'`,
    );
    id = rows[0]!.id;
  });

  it('a promise to pay holds escalation back until it is broken', async () => {
    const promise = await call('collector', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'promise_to_pay',
      channel: 'phone',
      promisedDate: '2026-06-20',
      promisedAmount: 5_000_000,
      body: 'will pay after the project owner pays him',
    });
    expect(promise.status, JSON.stringify(promise.body)).toBe(201);
    expect(promise.body.nextAction).toBe('await_promise');
    const view = await call('auditor', 'GET', `/api/contracts/${id}`);
    expect(view.body.nextAction).toMatchObject({ code: 'await_promise', gpsStopEligible: false });
    expect(view.body.promises).toEqual([
      expect.objectContaining({ status: 'pending', promisedAmount: 5_000_000 }),
    ]);

    clock += 6 * DAY; // 06-21: the promised day has passed without payment
    const later = await call('auditor', 'GET', `/api/contracts/${id}`);
    expect(later.body.promises[0].status).toBe('broken');
    expect(later.body.nextAction.code).toBe('locate_and_tow');
    const list = await call('auditor', 'GET', `/api/contracts/${id}/activities`);
    expect(list.body).toEqual([
      expect.objectContaining({ kind: 'promise_to_pay', promiseStatus: 'broken', superseded: false }),
    ]);
    expect(list.body[0].actor).toMatch(/^collector-/);
  });

  it('records are immutable; a correction replaces one; a dispute holds escalation until resolved', async () => {
    const visit = await call('recovery_agent', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'visit',
      channel: 'visit',
      outcome: 'machine on site',
      body: 'machine seen at 徐州东站工地',
    });
    expect(visit.status).toBe(201);
    await expect(
      t.db.query('update activity set body = $2 where id = $1', [visit.body.id, 'changed']),
    ).rejects.toThrow(/immutable/);
    await expect(t.db.query('delete from activity where id = $1', [visit.body.id])).rejects.toThrow(
      /immutable/,
    );
    const fix = await call('recovery_agent', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'visit',
      channel: 'visit',
      body: 'machine seen at the yard, not the site',
      correctsId: visit.body.id,
    });
    expect(fix.status).toBe(201);
    const wrongKind = await call('collector', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'call',
      correctsId: visit.body.id,
    });
    expect(wrongKind.status).toBe(422);

    const dispute = await call('collector', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'dispute_raised',
      disputeCategory: 'quality',
      body: 'hydraulic pump failed twice',
    });
    expect(dispute.body.nextAction).toBe('resolve_dispute');
    const resolved = await call('risk_manager', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'dispute_resolved',
      resolvesId: dispute.body.id,
      outcome: 'pump replaced under warranty',
    });
    expect(resolved.body.nextAction).toBe('locate_and_tow');
    const list = await call('auditor', 'GET', `/api/contracts/${id}/activities`);
    const superseded = list.body
      .filter((a: { superseded: boolean }) => a.superseded)
      .map((a: { id: number }) => a.id);
    expect(superseded).toEqual([visit.body.id]);
  });

  it('refuses incomplete records', async () => {
    const res = await call('collector', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'promise_to_pay',
    });
    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body.errors)).toMatch(/promisedDate/);
    const warning = await call('collector', 'POST', `/api/contracts/${id}/activities`, {
      kind: 'gps_stop_warning',
    });
    expect(warning.status).toBe(400);
  });
});

describe('accounts', () => {
  it('lists active accounts by stage with figures, sorted and paged', async () => {
    const all = await call('auditor', 'GET', '/api/accounts?pageSize=100');
    expect(all.status).toBe(200);
    const numbers = all.body.items.map((a: { number: string }) => a.number);
    expect(numbers).toContain('HT-2026-0001');
    expect(all.body.total).toBe(all.body.items.length);
    const stage3 = await call('recovery_agent', 'GET', '/api/accounts?stage=3&sort=overdueAmount&order=desc');
    expect(stage3.body.items.length).toBeGreaterThan(0);
    for (const a of stage3.body.items) expect(a.stage).toBe(3);
    const amounts = stage3.body.items.map((a: { overdueAmount: number }) => a.overdueAmount);
    expect(amounts).toEqual([...amounts].sort((a, b) => b - a));
    const first = stage3.body.items.find((a: { number: string }) => a.number === 'HT-2026-0001');
    expect(first).toMatchObject({ deviceId: 'DEV-A', customer: '王建国', nextAction: 'locate_and_tow' });
    const page = await call('auditor', 'GET', '/api/accounts?pageSize=1&page=2&sort=number&order=asc');
    expect(page.body.items).toHaveLength(1);
    expect(page.body.items[0].number).toBe([...numbers].sort()[1]);
    expect((await call('auditor', 'GET', '/api/accounts?sort=name')).status).toBe(400);
  });
});

describe('daily recomputation', () => {
  it('an instalment falling overdue overnight moves the stage up, once', async () => {
    // Paid up to the June instalment; the July one (due 07-01, grace 3) falls overdue on 07-05.
    const created = await call('admin', 'POST', '/api/contracts', {
      ...contract('HT-2026-0010', 'PIN-F'),
      payments: [{ date: '2026-06-01', amount: 5_000_000, reference: 'UPFRONT' }],
    });
    expect(created.body.contract.overdue.stage).toBe(0);
    const id = created.body.id as string;

    clock = Date.parse('2026-07-04T15:00:00Z'); // 23:00 on 07-04 in Shanghai: still in grace
    const before = await refreshDueAccounts(t.db, clock);
    expect(before.changes.find((c) => c.contractId === id)).toBeUndefined();

    clock = Date.parse('2026-07-04T16:30:00Z'); // 00:30 on 07-05 in Shanghai
    const next = await refreshDueAccounts(t.db, clock);
    expect(next.changes.find((c) => c.contractId === id)).toMatchObject({
      from: 0,
      to: 1,
      reason: 'daily recomputation',
    });
    const again = await refreshDueAccounts(t.db, clock);
    expect(again).toEqual({ refreshed: 0, changes: [] });
    const view = await call('auditor', 'GET', `/api/contracts/${id}`);
    expect(view.body.overdue).toMatchObject({ asOf: '2026-07-05', stage: 1, overdueInstalments: 1 });
  });
});
