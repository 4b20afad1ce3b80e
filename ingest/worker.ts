/**
 * The ingest worker: subscribes to device telemetry and status, writes in group-committed batches,
 * and acknowledges each QoS 1 message only after the batch holding it has committed — a crash
 * before the commit means the broker redelivers, and the unique key absorbs any duplicate.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/client.ts';
import { type Config, DEFAULT_MAX_BATCH } from '../shared/config.ts';
import { LIVE_ALERTS_TOPIC, LIVE_POSITIONS_TOPIC } from '../shared/live.ts';
import { topics } from '../shared/protocol.ts';
import { Batcher } from './batcher.ts';
import { type ClassifyOptions, classify } from './classify.ts';
import { startConsumer } from './consumer.ts';
import { problemReasons } from './dead-letter.ts';
import { ingestMetrics } from './metrics.ts';
import { startDeadLetterRetention } from './retention.ts';
import { createLocationRules } from './rules/evaluate.ts';
import { type IngestBatch, rejectUnknownDevices, writeBatch } from './store.ts';

export interface IngestOptions extends ClassifyOptions {
  db: Database;
  mqttUrl: string;
  username?: string | undefined;
  password?: string | undefined;
  /** Fixed per worker so the broker keeps its session (and queued messages) across restarts. */
  clientId: string;
  /** Shared-subscription group; null on brokers without `$share` (the embedded one). */
  shareGroup: string | null;
  logger: Logger;
  maxBatch?: number;
  /** Messages held (received, not yet committed) before the worker stops reading. */
  maxPending?: number;
  now?: () => number;
  /** Prometheus registry for the ingest metrics (ingest/metrics.ts); none are kept without one. */
  metrics?: Registry | undefined;
  /** Days dead letters are kept (ingest/retention.ts); 0 or absent keeps them all. */
  deadLetterRetentionDays?: number | undefined;
}

/**
 * The configured part of the options: the worker's fixed client id (per host unless configured), a
 * shared subscription on a real broker (the embedded one has none), the limits.
 */
export function ingestSettings(config: Config, embeddedBroker: boolean) {
  return {
    clientId: config.INGEST_CLIENT_ID ?? `ingest-${embeddedBroker ? 'embedded' : hostname()}`,
    shareGroup: embeddedBroker ? null : config.INGEST_SHARE_GROUP,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    maxClockSkewMs: config.MAX_CLOCK_SKEW_MS,
    maxBatch: config.INGEST_MAX_BATCH,
    deadLetterRetentionDays: config.DEAD_LETTER_RETENTION_DAYS,
  } satisfies Partial<IngestOptions>;
}

export interface IngestWorker {
  /** Messages taken from the broker and not yet committed. */
  depth(): number;
  connected(): boolean;
  stop(): Promise<void>;
}

interface Received {
  batch: IngestBatch;
  ack: () => void;
  receivedAt: number;
}

export async function startIngest(options: IngestOptions): Promise<IngestWorker> {
  const { db, logger } = options;
  const now = options.now ?? Date.now;
  const maxPending = options.maxPending ?? 20_000;
  let stopping = false;
  let reading = true;
  const metrics = options.metrics ? ingestMetrics(options.metrics) : null;
  // The batch being written (or retried): taken from the batcher, not yet committed.
  let inFlight: Received[] = [];
  let acknowledged = 0;
  const location = createLocationRules();

  const batcher = new Batcher<Received>({
    maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH,
    async write(items) {
      inFlight = items;
      const merged: IngestBatch = { telemetry: [], rejects: [], statuses: [], messages: [] };
      for (const { batch } of items) {
        merged.telemetry.push(...batch.telemetry);
        merged.rejects.push(...batch.rejects);
        merged.statuses.push(...batch.statuses);
        merged.messages!.push(...(batch.messages ?? []));
      }
      const started = performance.now();
      // The registry check runs in the batch's transaction: its dead letters and the batch's rows
      // commit together or not at all.
      // So do the alerts and geofence crossings the rows raise (ingest/rules/evaluate.ts): none is lost
      // to a crash between commit and evaluation.
      const { advanced, rejects, rows, alerts } = await db.transaction(async (tx) => {
        const known = await rejectUnknownDevices(tx, merged);
        const written = await writeBatch(tx, known);
        return { ...written, alerts: (await location.evaluate(tx, known.telemetry)).alerts };
      });
      inFlight = [];
      metrics?.committed({
        messages: items.length,
        rows,
        rejectReasons: problemReasons(rejects),
        seconds: (performance.now() - started) / 1000,
      });
      for (const item of items) item.ack();
      acknowledged += items.length;
      logger.debug({ messages: items.length, rows, acknowledged }, 'committed');
      if (rejects.length > 0) {
        logger.warn({ rejects: rejects.map((r) => ({ topic: r.topic, reasons: r.reasons })) }, 'rejected');
      }
      if (advanced.length > 0) consumer.publish(LIVE_POSITIONS_TOPIC, JSON.stringify(advanced));
      if (alerts.length > 0) consumer.publish(LIVE_ALERTS_TOPIC, JSON.stringify(alerts));
      // Backpressure released: read again once the backlog in hand has halved.
      if (!reading && !stopping && batcher.depth < maxPending / 2) {
        reading = true;
        consumer.resume();
      }
    },
    onError(error, attempt) {
      metrics?.batchFailed();
      logger.error({ err: error, attempt }, 'ingest batch failed; retrying, messages stay unacknowledged');
    },
  });

  const prefix = options.shareGroup ? `$share/${options.shareGroup}/` : '';
  const consumer = await startConsumer({
    url: options.mqttUrl,
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    subscriptions: [topics.allTelemetry, topics.allStatus].map((t) => prefix + t),
    onMessage(message) {
      // While stopping, a message is left unacknowledged: the persistent session redelivers it.
      if (stopping) return;
      const receivedAt = now();
      metrics?.received();
      batcher.add({
        batch: classify(message.topic, message.payload, receivedAt, options),
        ack: message.ack,
        receivedAt,
      });
      if (reading && batcher.depth >= maxPending) {
        // The database is behind (or down): stop reading rather than buffer without bound.
        reading = false;
        consumer.pause();
        logger.warn({ depth: batcher.depth }, 'ingest paused: database behind');
      }
    },
    onConnect: (sessionPresent) => logger.info({ sessionPresent }, 'ingest connected'),
    onError: (e) => logger.error({ err: e }, 'ingest mqtt error'),
  }).catch((e: Error) => {
    throw new Error(`ingest could not connect to ${options.mqttUrl}: ${e.message}`);
  });

  // The batcher writes at once whenever it holds anything, taking from the front of its queue, so
  // the oldest message held is the first of the batch in flight (or being retried).
  const unwatch = metrics?.watch({
    held: () => inFlight.length + batcher.depth,
    oldestHeldAt: () => inFlight[0]?.receivedAt ?? null,
  });

  const retention = startDeadLetterRetention({
    db,
    days: options.deadLetterRetentionDays ?? 0,
    logger,
    now,
  });

  return {
    depth: () => batcher.depth,
    connected: () => consumer.connected,
    async stop() {
      // Stop taking messages, write and acknowledge what is in hand, then go. Whatever the broker
      // still holds for this worker's persistent session — in flight or queued — is handed over
      // when it comes back. In a shared group the worker stays a member (leaving would let the
      // broker drop the group's telemetry while no member is there) and drops the connection
      // without DISCONNECT, the one way Mosquitto 2.0 was seen to keep the in-flight messages.
      stopping = true;
      retention.stop();
      consumer.pause();
      await batcher.drain();
      batcher.stop();
      await consumer.close({ disconnect: !options.shareGroup });
      unwatch?.();
      logger.info({ acknowledged }, 'ingest stopped');
    },
  };
}
