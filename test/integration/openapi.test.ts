/** The OpenAPI document covers every /api route, with the request and response schemas it declares. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.ts';

let t: TestApp;
const routes: { method: string; url: string }[] = [];
beforeAll(async () => {
  t = await startTestApp();
  // Routes are known after ready(); printRoutes is for humans, so read them from the document's source.
  const doc = await t.app.inject({ method: 'GET', url: '/docs/json' });
  expect(doc.statusCode).toBe(200);
});
afterAll(async () => {
  await t?.close();
});

interface Operation {
  requestBody?: { content: Record<string, { schema: unknown }> };
  parameters?: { in: string; name: string }[];
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
  summary?: string;
}

describe('OpenAPI', () => {
  it('is served at /docs/json without signing in, with a page at /docs', async () => {
    const page = await t.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(page.statusCode);
  });

  it('documents every /api route with a summary and a response schema, and request schemas where it takes input', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      openapi: string;
      paths: Record<string, Record<string, Operation>>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, op })),
    );
    const keys = documented.map((d) => d.key);
    for (const expected of [
      'POST /api/contracts',
      'GET /api/contracts/{id}',
      'POST /api/contracts/{id}/payments',
      'POST /api/contracts/{id}/activities',
      'GET /api/accounts',
      'POST /api/auth/login',
      'GET /api/map/machines',
    ]) {
      expect(keys).toContain(expected);
    }
    routes.push(...documented.map((d) => ({ method: d.key.split(' ')[0]!, url: d.key.split(' ')[1]! })));
    const missing: string[] = [];
    for (const { key, op } of documented) {
      if (!key.includes(' /api/')) continue;
      const ok = Object.entries(op.responses ?? {}).find(([code]) => code.startsWith('2'));
      if (!ok?.[1].content) missing.push(`${key}: no 2xx response schema`);
      if (!op.summary) missing.push(`${key}: no summary`);
      if (key.startsWith('POST') && !op.requestBody) missing.push(`${key}: no request body schema`);
    }
    expect(missing).toEqual([]);
  });

  it('describes a contract body with its required fields and money in fen', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, Operation>>;
    };
    const body = doc.paths['/api/contracts']?.post?.requestBody?.content['application/json']?.schema as {
      required: string[];
      properties: Record<string, { description?: string }>;
    };
    expect(body.required).toEqual(
      expect.arrayContaining(['number', 'kind', 'principal', 'startDate', 'customer']),
    );
    expect(body.properties.principal?.description).toMatch(/fen/);
  });
});
