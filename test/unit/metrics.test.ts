import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ingestMetrics } from '../../ingest/metrics.ts';

const value = async (registry: Registry, name: string, labels: Record<string, string> = {}) => {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const match = values.find(
    (v) =>
      Object.keys(labels).every((k) => v.labels[k] === labels[k]) &&
      (Object.keys(labels).length > 0 || !('le' in v.labels)),
  );
  return match?.value;
};

describe('ingest metrics', () => {
  it('counts a committed batch into counters and histograms', async () => {
    const registry = new Registry();
    const m = ingestMetrics(registry);
    m.received(3);
    m.committed({
      messages: 3,
      rows: 5,
      rejectReasons: ['malformed_json', 'schema', 'schema'],
      seconds: 0.02,
    });
    m.batchFailed();

    expect(await value(registry, 'ingest_messages_received_total')).toBe(3);
    expect(await value(registry, 'ingest_rows_committed_total')).toBe(5);
    expect(await value(registry, 'ingest_rejects_total', { reason: 'malformed_json' })).toBe(1);
    expect(await value(registry, 'ingest_rejects_total', { reason: 'schema' })).toBe(2);
    expect(await value(registry, 'ingest_rejects_total', { reason: 'oversize' })).toBe(0);
    expect(await value(registry, 'ingest_batch_failures_total')).toBe(1);

    const text = await registry.metrics();
    expect(text).toContain('ingest_batch_size_count 1');
    expect(text).toContain('ingest_batch_size_sum 3');
    expect(text).toContain('ingest_batch_size_bucket{le="2"} 0');
    expect(text).toContain('ingest_batch_size_bucket{le="5"} 1');
    expect(text).toContain('ingest_commit_seconds_count 1');
    expect(text).toContain('ingest_commit_seconds_bucket{le="0.025"} 1');
    expect(text).toContain('ingest_commit_seconds_bucket{le="0.01"} 0');
  });

  it('reads queue depth and consumer lag from the watched workers at scrape time', async () => {
    const registry = new Registry();
    let clock = 100_000;
    const m = ingestMetrics(registry, () => clock);
    expect(await value(registry, 'ingest_queue_depth')).toBe(0);
    expect(await value(registry, 'ingest_consumer_lag_seconds')).toBe(0);

    const a = { held: 4, oldest: 97_500 as number | null };
    const unwatchA = m.watch({ held: () => a.held, oldestHeldAt: () => a.oldest });
    m.watch({ held: () => 2, oldestHeldAt: () => 99_000 });
    expect(await value(registry, 'ingest_queue_depth')).toBe(6);
    expect(await value(registry, 'ingest_consumer_lag_seconds')).toBe(2.5);

    clock = 101_000;
    a.held = 0;
    a.oldest = null;
    expect(await value(registry, 'ingest_queue_depth')).toBe(2);
    expect(await value(registry, 'ingest_consumer_lag_seconds')).toBe(2);
    unwatchA();
    expect(await value(registry, 'ingest_queue_depth')).toBe(2);
  });

  it('shares one set of metrics per registry and keeps registries apart', async () => {
    const one = new Registry();
    const other = new Registry();
    expect(ingestMetrics(one)).toBe(ingestMetrics(one));
    ingestMetrics(one).received();
    ingestMetrics(one).received();
    ingestMetrics(other).received();
    expect(await value(one, 'ingest_messages_received_total')).toBe(2);
    expect(await value(other, 'ingest_messages_received_total')).toBe(1);
  });
});
