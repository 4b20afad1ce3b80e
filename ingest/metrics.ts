/**
 * Prometheus metrics of the ingest workers, on a registry the caller owns (main.ts creates one per
 * platform; tests their own) — never prom-client's global default registry. Several workers on one
 * registry share these metrics: counters and histograms add up, the queue depth is the sum of the
 * workers' and the consumer lag the largest of them.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { RejectReason } from '../shared/protocol.ts';

/** What a running worker reports at scrape time. */
export interface HeldSource {
  /** Messages taken from the broker and not yet committed (waiting or in the batch being written). */
  held(): number;
  /** Receive time (ms) of the oldest message held, or null when nothing is held. */
  oldestHeldAt(): number | null;
}

export interface CommittedBatch {
  /** MQTT messages in the batch. */
  messages: number;
  /** Telemetry rows written (redeliveries absorbed by the unique key included). */
  rows: number;
  /** Reason of each problem of the dead letters written (a dead letter of n bad reports counts n). */
  rejectReasons: readonly string[];
  /** Duration of the committed transaction. */
  seconds: number;
}

export interface IngestMetrics {
  received(messages?: number): void;
  committed(batch: CommittedBatch): void;
  batchFailed(): void;
  /** Adds a worker to the scrape-time gauges; returns the function that removes it. */
  watch(source: HeldSource): () => void;
}

// Reasons known in advance are exported at 0, so rate() and alerts see the series before the first
// reject of a kind. Other reasons still appear once they occur.
const KNOWN_REASONS: readonly (RejectReason | 'future_time' | 'bad_topic' | 'unknown_device')[] = [
  'malformed_json',
  'schema',
  'oversize',
  'empty',
  'too_many_reports',
  'future_time',
  'bad_topic',
  'unknown_device',
];

const byRegistry = new WeakMap<Registry, IngestMetrics>();

/** The ingest metrics on `registry`, registered on first use and shared by later callers. */
export function ingestMetrics(registry: Registry, now: () => number = Date.now): IngestMetrics {
  const existing = byRegistry.get(registry);
  if (existing) return existing;

  const sources = new Set<HeldSource>();
  const registers = [registry];
  const received = new Counter({
    name: 'ingest_messages_received_total',
    help: 'MQTT messages taken from the broker by ingest.',
    registers,
  });
  const rows = new Counter({
    name: 'ingest_rows_committed_total',
    help: 'Telemetry rows in committed batches (redeliveries absorbed by the unique key included).',
    registers,
  });
  const rejects = new Counter({
    name: 'ingest_rejects_total',
    help: 'Dead letters committed, by reason.',
    labelNames: ['reason'],
    registers,
  });
  for (const reason of KNOWN_REASONS) rejects.inc({ reason }, 0);
  const batchSize = new Histogram({
    name: 'ingest_batch_size',
    help: 'MQTT messages per committed batch.',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
    registers,
  });
  const commitSeconds = new Histogram({
    name: 'ingest_commit_seconds',
    help: 'Duration of a committed ingest transaction.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  const failures = new Counter({
    name: 'ingest_batch_failures_total',
    help: 'Failed batch writes (each is retried; its messages stay unacknowledged).',
    registers,
  });
  new Gauge({
    name: 'ingest_queue_depth',
    help: 'Messages held by ingest, received and not yet committed.',
    registers,
    collect() {
      let held = 0;
      for (const s of sources) held += s.held();
      this.set(held);
    },
  });
  new Gauge({
    name: 'ingest_consumer_lag_seconds',
    help: 'Age of the oldest message held by ingest (received, not yet committed); 0 when none is held.',
    registers,
    // Lag measured from the worker's receive time, not device time: device clocks drift and devices
    // upload offline backlogs hours late, which is not ingest falling behind. This grows while the
    // database is slow or down, and stays near the commit latency when ingest keeps up. It does not
    // see messages still queued at the broker (paused reading, or before a restart).
    collect() {
      let oldest: number | null = null;
      for (const s of sources) {
        const at = s.oldestHeldAt();
        if (at !== null && (oldest === null || at < oldest)) oldest = at;
      }
      this.set(oldest === null ? 0 : Math.max(0, now() - oldest) / 1000);
    },
  });

  const metrics: IngestMetrics = {
    received: (n = 1) => received.inc(n),
    committed(batch) {
      batchSize.observe(batch.messages);
      commitSeconds.observe(batch.seconds);
      if (batch.rows > 0) rows.inc(batch.rows);
      for (const reason of batch.rejectReasons) rejects.inc({ reason });
    },
    batchFailed: () => failures.inc(),
    watch(source) {
      sources.add(source);
      return () => sources.delete(source);
    },
  };
  byRegistry.set(registry, metrics);
  return metrics;
}
