/** The ingest-only process's ops port asks for METRICS_TOKEN on /metrics when one is set. */
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpsServer, startOpsServer } from '../../ingest/http.ts';

const TOKEN = 'ops-scrape-token-0123456789';

describe('the ops port with a metrics token', () => {
  let ops: OpsServer;
  beforeAll(async () => {
    ops = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      metrics: new Registry(),
      metricsToken: TOKEN,
      healthy: async () => ({ ok: true }),
    });
  });
  afterAll(() => ops?.close());

  it('answers /metrics 401 without the token and 200 with it; /health stays open', async () => {
    expect((await fetch(`${ops.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${ops.url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status).toBe(
      401,
    );
    expect(
      (await fetch(`${ops.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status,
    ).toBe(200);
    expect((await fetch(`${ops.url}/health`)).status).toBe(200);
  });
});
