/**
 * An ingest-only process (ROLES=ingest, as production scales it) still serves /metrics and /health,
 * and nothing else: Prometheus can scrape the workers that do the writing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe(`an ingest-only process on ${engineName}`, () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform({ ROLES: ['ingest'] });
  });
  afterAll(async () => {
    await platform?.teardown();
  });

  it('serves its ingest metrics and its health, and no api', async () => {
    expect(platform.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${platform.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/^ingest_messages_received_total /m);
    expect(text).toMatch(/^ingest_rows_committed_total /m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    const health = await fetch(`${platform.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', database: true, broker: true });
    expect((await fetch(`${platform.url}/api/map/machines`)).status).toBe(404);
  });
});
