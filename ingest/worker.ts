/**
 * The ingest worker: subscribes to device telemetry and status, writes in group-committed batches,
 * and acknowledges each QoS 1 message only after the batch holding it has committed — a crash
 * before the commit means the broker redelivers, and the unique key absorbs any duplicate.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Database } from '../db/client.ts';
import { LIVE_POSITIONS_TOPIC } from '../shared/live.ts';
import { topics } from '../shared/protocol.ts';
import { Batcher } from './batcher.ts';
import { type ClassifyOptions, classify } from './classify.ts';
import { type IngestBatch, writeBatch } from './store.ts';

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
  now?: () => number;
}

export interface IngestWorker {
  /** Messages taken from the broker and not yet committed. */
  depth(): number;
  stop(): Promise<void>;
}

interface Received {
  batch: IngestBatch;
  ack: () => void;
}

export async function startIngest(options: IngestOptions): Promise<IngestWorker> {
  const { db, logger } = options;
  const now = options.now ?? Date.now;
  const client: MqttClient = mqtt.connect(options.mqttUrl, {
    clientId: options.clientId,
    username: options.username,
    password: options.password,
    // MQTT 3.1.1 persistent session: every broker we run speaks it (the embedded aedes speaks no
    // MQTT 5). How long an absent worker's session is kept is the broker's setting
    // (persistent_client_expiration in deploy/mosquitto).
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });

  const batcher = new Batcher<Received>({
    maxBatch: options.maxBatch ?? 2000,
    async write(items) {
      const merged: IngestBatch = { telemetry: [], rejects: [], statuses: [] };
      for (const { batch } of items) {
        merged.telemetry.push(...batch.telemetry);
        merged.rejects.push(...batch.rejects);
        merged.statuses.push(...batch.statuses);
      }
      const advanced = await db.transaction((tx) => writeBatch(tx, merged));
      for (const item of items) item.ack();
      if (merged.rejects.length > 0) {
        logger.warn(
          { rejects: merged.rejects.map((r) => ({ topic: r.topic, reason: r.reason })) },
          'rejected',
        );
      }
      if (advanced.length > 0 && client.connected) {
        client.publish(LIVE_POSITIONS_TOPIC, JSON.stringify(advanced), { qos: 0 });
      }
    },
    onError(error, attempt) {
      logger.error({ err: error, attempt }, 'ingest batch failed; retrying, messages stay unacknowledged');
    },
  });

  let stopping = false;
  // mqtt.js sends the PUBACK when this callback is called: we call it after the commit. While
  // stopping, a message is left unacknowledged: the persistent session redelivers it later.
  client.handleMessage = (packet, done) => {
    if (stopping) return;
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    batcher.add({ batch: classify(packet.topic, payload, now(), options), ack: () => done() });
  };

  const prefix = options.shareGroup ? `$share/${options.shareGroup}/` : '';
  const subscriptions = [topics.allTelemetry, topics.allStatus].map((t) => prefix + t);

  client.on('error', (e) => logger.error({ err: e }, 'ingest mqtt error'));
  client.on('connect', (ack) => {
    // With a resumed session the broker still has our subscriptions; subscribing again is harmless.
    logger.info({ sessionPresent: ack.sessionPresent }, 'ingest connected');
    client.subscribe(subscriptions, { qos: 1 }, (err) => {
      if (err) logger.error({ err }, 'ingest subscribe failed');
    });
  });

  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => {
      client.end(true);
      reject(new Error(`ingest could not connect to ${options.mqttUrl}: ${e.message}`));
    };
    client.once('connect', () => {
      client.off('error', fail);
      resolve();
    });
    client.once('error', fail);
  });

  return {
    depth: () => batcher.depth,
    async stop() {
      // Stop taking new messages, write (and acknowledge) what we hold, then leave. No unsubscribe:
      // the broker keeps queueing for this session while the worker is away.
      stopping = true;
      await batcher.drain();
      batcher.stop();
      await client.endAsync();
    },
  };
}
