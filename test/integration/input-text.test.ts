/**
 * Control characters in any input — a login name, a collection note, a path, a query, a CSV import —
 * are a 400 naming the field, before anything reaches the database (PostgreSQL refuses a NUL in
 * text, which used to surface as a 500). Line breaks in free text still pass.
 */
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';

describe(`control characters in requests on ${engineName}`, () => {
  let t: TestApp;
  let risk: string;
  let collector: string;
  let contractId: string;

  beforeAll(async () => {
    t = await startTestApp();
    risk = (await signedInAs(t.app, t.db, 'risk_manager')).token;
    collector = (await signedInAs(t.app, t.db, 'collector')).token;
    await provisionDevices(t.db, [
      {
        deviceId: 'NUL-1',
        token: 'token-nul-1'.padEnd(32, '0'),
        machine: {
          id: 'M-NUL',
          make: 'Sany',
          model: 'SY215C',
          type: 'excavator',
          serial: 'PIN-NUL',
          year: 2024,
        },
      },
    ]);
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/contracts',
      headers: authHeader(risk),
      payload: {
        number: 'HT-NUL-0001',
        kind: 'loan',
        principal: 12_000_000,
        startDate: '2026-01-01',
        termMonths: 12,
        customer: { name: '王建国', phone: '13800000001', addresses: [] },
        guarantors: [],
        dealer: { id: 'D-XZ', name: '徐州工程机械', province: 'Jiangsu' },
        machineSerial: 'PIN-NUL',
      },
    });
    expect(res.statusCode, res.body).toBe(200);
    contractId = res.json().id;
  });
  afterAll(() => t?.close());

  const expect400 = async (request: InjectOptions, field: string): Promise<void> => {
    const res = await t.app.inject(request);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().message).toMatch(
      new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: control character U\\+`),
    );
  };

  it('refuses a NUL in a login name with 400', async () => {
    await expect400(
      { method: 'POST', url: '/api/auth/login', payload: { username: 'adm\u0000in', password: 'demo' } },
      'body.username',
    );
  });

  it('refuses a NUL in a collection note with 400, and stores nothing', async () => {
    await expect400(
      {
        method: 'POST',
        url: `/api/contracts/${contractId}/activities`,
        headers: authHeader(collector),
        payload: { kind: 'call', channel: 'phone', body: 'no answer\u0000' },
      },
      'body.body',
    );
    const { rows } = await t.db.query<{ n: number }>('select count(*)::int as n from activity');
    expect(rows[0]!.n).toBe(0);
  });

  it('lets line breaks through in a note', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/contracts/${contractId}/activities`,
      headers: authHeader(collector),
      payload: { kind: 'call', channel: 'phone', body: 'no answer\r\n\tcall again tomorrow' },
    });
    expect(res.statusCode, res.body).toBe(201);
  });

  it('refuses control characters in a path and a query string with 400', async () => {
    await expect400({ url: '/api/contracts/%00', headers: authHeader(risk) }, 'path.id');
    await expect400({ url: '/api/contracts/HT%1B%5B31m', headers: authHeader(risk) }, 'path.id');
    await expect400({ url: '/api/map/machines?q=a%00b', headers: authHeader(risk) }, 'query.q');
    await expect400({ url: '/api/accounts?stage=1%0A', headers: authHeader(risk) }, 'query.stage');
  });

  it('refuses a NUL in a CSV import with 400', async () => {
    await expect400(
      {
        method: 'POST',
        url: '/api/contracts/import',
        headers: { ...authHeader(risk), 'content-type': 'text/csv' },
        payload: 'number,kind\nHT-1\u0000,loan\n',
      },
      'body',
    );
  });
});
