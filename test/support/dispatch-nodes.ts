/**
 * Several api nodes' command dispatchers on one scratch PostgreSQL database, and boxes running the
 * reference firmware on the real broker: what the multi-node tests need. Each node has its own
 * connection pool (named in pg_stat_activity by `application_name`, so a test can find and end its
 * connections) and its own MQTT connection, and counts what it publishes. Each box has its own
 * MQTT connection, answers on its ack topic as SimDevice does, and keeps every answer it gave.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import pino from 'pino';
import { appendAudit } from '../../api/audit/log.ts';
import {
  type CommandLink,
  type Dispatcher,
  startDispatcher,
  statusShareGroupOf,
} from '../../api/commands/dispatcher.ts';
import { commandFeed } from '../../api/commands/feed.ts';
import { type Database, openDatabase } from '../../db/client.ts';
import { registerKeyring } from '../../db/keys.ts';
import type { CommandAck, SignedCommand } from '../../shared/commands.ts';
import { keyringOf, parseKek } from '../../shared/key-wrap.ts';
import { PROFILES } from '../../shared/policy.ts';
import { topics } from '../../shared/protocol.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';
import { TEST_KEY_ENCRYPTION_KEY } from './engines.ts';

export const PROFILE = PROFILES.default as NonNullable<(typeof PROFILES)['default']>;

/** The scratch database's URL with the connections named, so pg_stat_activity tells the nodes apart. */
export function namedUrl(url: string, name: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', name);
  return u.toString();
}

/** Opens the scratch database as an api node does: its own pool, the test key-encryption key. */
export async function openNodeDatabase(url: string, name: string): Promise<Database> {
  const db = await openDatabase({ url: namedUrl(url, name) });
  registerKeyring(db, keyringOf(parseKek(TEST_KEY_ENCRYPTION_KEY)!));
  return db;
}

/** Ends every connection a node has open on the server: what the server sees when the node dies. */
export async function endConnectionsOf(db: Database, name: string): Promise<number> {
  const { rows } = await db.query<{ ended: boolean }>(
    'select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name = $1',
    [name],
  );
  return rows.length;
}

export interface Publication {
  commandId: string;
  deviceId: string;
  counter: number;
}

export interface DispatchNode {
  name: string;
  db: Database;
  dispatcher: Dispatcher;
  /** Every command this node published, in order. */
  published: Publication[];
  /** Those of them the broker has taken (PUBACK): what a box subscribed from then on cannot get. */
  confirmed: Publication[];
  /** Status messages held back so far (with `holdStatus`). */
  heldStatus(): number;
  /** Hands the node the device status messages held back so far, and stops holding them. */
  releaseStatus(): void;
  /**
   * The node dies: the server ends its connections (what it sees when a process is killed), its
   * pool is ended, its broker connection dropped. Whatever it was doing fails from then on.
   */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface NodeOptions {
  name: string;
  databaseUrl: string;
  mqttUrl: string;
  now: () => number;
  tickMs?: number;
  /** Called before each publication goes out; may hold it (a node that freezes mid-send). */
  beforePublish?: (p: Publication) => Promise<void> | void;
  /** Holds back device status messages until `releaseStatus()`: a node that hears of a reconnect late. */
  holdStatus?: boolean;
  sendLeaseSeconds?: number;
  publishWaitMs?: number;
  /** As api/start.ts derives it from the database, unless given (null: every node hears every status). */
  statusShareGroup?: string | null;
}

/** A dispatcher as api/start.ts runs it, on a pool and a broker connection of its own. */
export async function startDispatchNode(o: NodeOptions): Promise<DispatchNode> {
  const db = await openNodeDatabase(o.databaseUrl, o.name);
  const client = await mqtt.connectAsync(o.mqttUrl, {
    clientId: `${o.name}-${randomBytes(4).toString('hex')}`,
    reconnectPeriod: 500,
  });
  client.on('error', () => {});
  const published: Publication[] = [];
  const confirmed: Publication[] = [];
  const held: [string, Buffer][] = [];
  let holding = o.holdStatus ?? false;
  const listeners = new Map<unknown, (topic: string, payload: Buffer) => void>();
  const link: CommandLink = {
    on(event, listener) {
      const gated = (topic: string, payload: Buffer) => {
        if (holding && topic.endsWith('/status')) held.push([topic, payload]);
        else listener(topic, payload);
      };
      listeners.set(listener, gated);
      return client.on(event, gated);
    },
    off: (event, listener) => client.off(event, listeners.get(listener) ?? listener),
    subscribe: (t, options) => client.subscribe(t, options),
    async publishAsync(topic, payload, options) {
      const c = JSON.parse(payload) as SignedCommand;
      const p = { commandId: c.id, deviceId: c.deviceId, counter: c.counter };
      await o.beforePublish?.(p);
      published.push(p);
      const sent = await client.publishAsync(topic, payload, options);
      confirmed.push(p);
      return sent;
    },
  };
  const dispatcher = startDispatcher({
    db,
    mqtt: link,
    feed: commandFeed(db, () => {}, appendAudit),
    profile: PROFILE,
    logger: pino({ level: 'silent' }),
    now: o.now,
    tickMs: o.tickMs ?? 200,
    sendLeaseSeconds: o.sendLeaseSeconds,
    publishWaitMs: o.publishWaitMs,
    statusShareGroup: o.statusShareGroup === undefined ? await statusShareGroupOf(db) : o.statusShareGroup,
  });
  let dead = false;
  return {
    name: o.name,
    db,
    dispatcher,
    published,
    confirmed,
    heldStatus: () => held.length,
    releaseStatus() {
      holding = false;
      for (const [topic, payload] of held.splice(0)) client.emit('message', topic, payload, {} as never);
    },
    async kill() {
      dead = true;
      const admin = await openDatabase({ url: o.databaseUrl });
      try {
        await endConnectionsOf(admin, o.name);
      } finally {
        await admin.close();
      }
      void db.close().catch(() => {});
      client.end(true);
    },
    async stop() {
      await dispatcher.stop();
      if (dead) return;
      await client.endAsync();
      await db.close();
    },
  };
}

/** What a box answered, with the counter of the command it answered. */
export interface Answer {
  ack: CommandAck;
  counter: number;
}

export interface WireBox {
  deviceId: string;
  token: string;
  firmware: BoxFirmware;
  /** Every command message that reached the box, repeats included. */
  received: SignedCommand[];
  answers: Answer[];
  /** Says `online` on its status topic, as a box does when it (re)connects (not retained here). */
  online(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A box on the broker: the reference firmware behind its own connection. It says nothing on its
 * status topic unless asked (`online()`); with `answer: false` it takes commands in and never
 * answers (a box whose answers are lost).
 */
export async function connectBox(
  mqttUrl: string,
  deviceId: string,
  token: string,
  { answer = true } = {},
): Promise<WireBox> {
  const firmware = new BoxFirmware(deviceId, token);
  const received: SignedCommand[] = [];
  const answers: Answer[] = [];
  const client: MqttClient = await mqtt.connectAsync(mqttUrl, {
    clientId: `box-${deviceId}`,
    reconnectPeriod: 500,
  });
  client.on('error', () => {});
  client.on('message', (_topic, payload) => {
    const command = JSON.parse(payload.toString()) as SignedCommand;
    received.push(command);
    if (!answer) return;
    const ack = firmware.onCommand(command as never, Date.now());
    answers.push({ ack: ack as unknown as CommandAck, counter: command.counter });
    client.publish(topics.ack(deviceId), JSON.stringify(ack), { qos: 1 });
  });
  await client.subscribeAsync(topics.commands(deviceId), { qos: 1 });
  return {
    deviceId,
    token,
    firmware,
    received,
    answers,
    online: async () => {
      await client.publishAsync(topics.status(deviceId), 'online', { qos: 1 });
    },
    stop: () => client.endAsync(),
  };
}
