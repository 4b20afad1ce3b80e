/**
 * The real loop the campaign attacks, in one process on a simulated clock: the api app (its routes,
 * command service, contract service and audit, called with inject as the people would), the command
 * dispatcher, ingest's classify-and-store of every report, and a box running the reference firmware
 * behind the campaign's network. One database per epoch (PGlite, or PostgreSQL with DATABASE_URL);
 * one machine, contract and box per run. An api restart builds the app and the dispatcher again on
 * the same database; a broker restart loses what was in flight.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../api/app.ts';
import { appendAudit, verifyAuditChain } from '../../api/audit/log.ts';
import { createAuth } from '../../api/auth/service.ts';
import { createTokens } from '../../api/auth/tokens.ts';
import { type Dispatcher, startDispatcher } from '../../api/commands/dispatcher.ts';
import { commandFeed } from '../../api/commands/feed.ts';
import { refreshDueAccounts } from '../../api/contracts/scheduler.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import { type Database, openDatabase } from '../../db/client.ts';
import { registerKeyring } from '../../db/keys.ts';
import { migrate } from '../../db/migrate.ts';
import { classify } from '../../ingest/classify.ts';
import { rejectUnknownDevices, writeBatch } from '../../ingest/store.ts';
import { localDate } from '../../shared/calendar-date.ts';
import { type Kek, keyringOf, parseKek } from '../../shared/key-wrap.ts';
import { PROFILES } from '../../shared/policy.ts';
import { topics } from '../../shared/protocol.ts';
import type { Role } from '../../shared/roles.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';
import { CHEAP_PASSWORD_COST, createTestUser, loginAs } from '../support/auth.ts';
import { realDatabase, scratchDatabase, TEST_KEY_ENCRYPTION_KEY } from '../support/engines.ts';
import { Network } from './network.ts';

export const PROFILE = PROFILES.default as NonNullable<(typeof PROFILES)['default']>;

const OFF = { max: 0, windowSeconds: 60 };

/** The people of the campaign and their roles. */
export const PEOPLE: Record<string, Role> = {
  r1: 'risk_manager',
  r2: 'risk_manager',
  c1: 'collector',
  admin: 'admin',
};

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
  body: any;
}

/**
 * A scratch database (PGlite, or PostgreSQL with DATABASE_URL) with the people signed in. `close`
 * verifies the audit chain, then drops the database; it answers whether the chain held.
 */
export async function openEpoch(clock: {
  now: number;
}): Promise<{ epoch: Epoch; close(): Promise<boolean> }> {
  // Embedded, in memory: the campaign writes a great deal and keeps nothing, and PGlite on disk
  // spends much of its time in the file system.
  const scratch = realDatabase
    ? await scratchDatabase()
    : {
        async open() {
          const db = await openDatabase({});
          registerKeyring(db, keyringOf(parseKek(TEST_KEY_ENCRYPTION_KEY) as Kek));
          return migrated(db);
        },
        drop: async () => {},
      };
  const db = await scratch.open();
  const epoch = new Epoch(db, clock);
  await epoch.open();
  return {
    epoch,
    async close() {
      const chain = await verifyAuditChain(db);
      await epoch.close();
      await db.close();
      await scratch.drop();
      return chain.ok;
    },
  };
}

async function migrated(db: Database): Promise<Database> {
  await migrate(db);
  return db;
}

/** A database with the campaign's people signed in; the app is rebuilt on it at every api start. */
export class Epoch {
  private tokens = new Map<string, string>();
  private usernames = new Map<string, string>();
  private readonly secret = 'safety-campaign-secret-0123456789abcdef';
  /** The app the people call; built again at an api restart. */
  app: FastifyInstance | null = null;
  /** The running dispatcher (the current run's); the app reaches it through `forwarder`. */
  dispatcher: Dispatcher | null = null;
  private readonly forwarder: Dispatcher = {
    kick: () => this.dispatcher?.kick(),
    dispatchNow: async (id) => this.dispatcher?.dispatchNow(id),
    pass: async () => this.dispatcher?.pass(),
    stop: async () => {},
  };

  constructor(
    readonly db: Database,
    readonly clock: { now: number },
  ) {}

  /** Builds the app and signs the people in. */
  async open(): Promise<void> {
    this.app = await this.buildApp();
    for (const [who, role] of Object.entries(PEOPLE)) {
      const u = await createTestUser(this.db, role, { cost: CHEAP_PASSWORD_COST });
      this.usernames.set(who, u.username);
      this.tokens.set(who, (await loginAs(this.app, u.username, u.password)).token);
    }
  }

  async close(): Promise<void> {
    await this.app?.close();
    this.app = null;
  }

  username(who: string): string {
    return this.usernames.get(who) ?? who;
  }

  async buildApp(): Promise<FastifyInstance> {
    const db = this.db;
    const tokens = createTokens({ secret: this.secret, ttlSeconds: 365 * 86_400 });
    const feed = commandFeed(db, () => {}, appendAudit);
    const app = await buildApp({
      db,
      auth: createAuth(db, tokens),
      logger: pino({ level: 'silent' }),
      health: {
        broker: () => ({ connected: true, embedded: true }),
        database: async () => ({ ok: true, engine: db.engine }),
      },
      now: () => this.clock.now,
      commands: { feed, profile: PROFILE, dispatcher: this.forwarder },
      // The people of the campaign act many times a real second; the limits are tested elsewhere
      // (test/integration/edges.test.ts) and count real time, not the campaign's clock.
      rateLimits: { limits: { signIn: OFF, imports: OFF, tracks: OFF } },
    });
    await app.ready();
    return app;
  }

  async call(who: string, method: string, url: string, body?: unknown): Promise<Reply> {
    if (!this.app) throw new Error('the epoch is closed');
    const csv = typeof body === 'string';
    const res = await this.app.inject({
      method: method as 'GET',
      url,
      headers: {
        authorization: `Bearer ${this.tokens.get(who) ?? ''}`,
        ...(body === undefined ? {} : { 'content-type': csv ? 'text/csv' : 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: csv ? body : JSON.stringify(body) }),
    });
    let parsed: unknown = null;
    try {
      parsed = res.json();
    } catch {
      parsed = res.body;
    }
    return { status: res.statusCode, body: parsed };
  }
}

/** What the box did, for the campaign's judgement. */
export interface Engagement {
  at: number;
  /** The immobilize that armed the box, and when the platform published the copy the box took. */
  commandId: string | null;
  sentAt: number;
  /** The truth of the machine just before: moving, running, or unread. */
  unsafe: string | null;
}

/** One machine, contract and box, and the loop around them. */
export class Rig {
  readonly network: Network;
  readonly box: BoxFirmware;
  dispatcher!: Dispatcher;
  skewMs = 0;
  disabled = false;
  engagements: Engagement[] = [];
  /** The immobilize the box last took, with the time the platform published it. */
  private armedBy: { id: string; sentAt: number } | null = null;
  /** What the campaign says the machine does (set by the run). */
  truth: (engaged: boolean) => {
    real: { ign: boolean; spd: number };
    read: { ign: boolean | null; spd: number | null };
  } = () => ({ real: { ign: false, spd: 0 }, read: { ign: false, spd: 0 } });

  constructor(
    readonly epoch: Epoch,
    readonly deviceId: string,
    readonly contractId: string,
    token: string,
  ) {
    this.box = new BoxFirmware(deviceId, token);
    this.network = new Network(
      () => this.now,
      (topic, payload, at) => this.onCommand(topic, payload, at),
    );
  }

  get now(): number {
    return this.epoch.clock.now;
  }

  get engaged(): boolean {
    return this.box.immobilizer.state.engaged;
  }

  get armed(): boolean {
    return this.box.immobilizer.state.armed;
  }

  /** Provisions a machine and box and makes a loan on it that is three instalments behind. */
  static async open(epoch: Epoch, tag: string): Promise<Rig> {
    const deviceId = `SAFE-${tag}`;
    const token = randomBytes(16).toString('hex');
    const machineId = `MSAFE-${tag}`;
    await provisionDevices(epoch.db, [
      {
        deviceId,
        token,
        machine: {
          id: machineId,
          make: 'Sany',
          model: 'SY215C',
          type: 'excavator',
          serial: `PS-${tag}`,
          year: 2023,
        },
      },
    ]);
    const start = new Date(epoch.clock.now - 118 * 86_400_000).toISOString().slice(0, 10);
    const made = await epoch.call('admin', 'POST', '/api/contracts', {
      number: `SAFE-${tag}`,
      kind: 'loan',
      principal: 3_600_000,
      startDate: start,
      termMonths: 24,
      customer: { name: '测试客户' },
      machineId,
    });
    if (made.status !== 200) throw new Error(`contract: ${made.status} ${JSON.stringify(made.body)}`);
    return new Rig(epoch, deviceId, made.body.id, token);
  }

  /** The dispatcher of this run starts. */
  async startApi(): Promise<void> {
    this.dispatcher = startDispatcher({
      db: this.epoch.db,
      mqtt: this.network.link,
      feed: commandFeed(this.epoch.db, () => {}, appendAudit),
      profile: PROFILE,
      logger: pino({ level: 'silent' }),
      now: () => this.now,
      tickMs: 3_600_000,
    });
    this.epoch.dispatcher = this.dispatcher;
  }

  async stopApi(): Promise<void> {
    await this.dispatcher.stop();
    this.epoch.dispatcher = null;
  }

  /** An api process dies and another starts: a new app and dispatcher on the same database. */
  async restartApi(): Promise<void> {
    await this.stopApi();
    await this.epoch.close();
    this.epoch.app = await this.epoch.buildApp();
    await this.startApi();
  }

  call(who: string, method: string, url: string, body?: unknown) {
    return this.epoch.call(who, method, url, body);
  }

  private onCommand(topic: string, payload: string, sentAt: number): void {
    let command: unknown;
    try {
      command = JSON.parse(payload);
    } catch {
      return;
    }
    const before = this.engaged;
    const truth = this.truth(before);
    const ack = this.box.onCommand(command as never, this.now + this.skewMs, truth.read);
    const c = command as { id?: string; type?: string };
    if (ack.status === 'accepted' && c.type === 'immobilize' && typeof c.id === 'string') {
      // A repeat of the command already taken keeps the first send's time.
      if (this.armedBy?.id !== c.id) this.armedBy = { id: c.id, sentAt };
    }
    this.noteEngagement(before, truth.real, truth.read);
    void topic;
    this.network.fromBox(topics.ack(this.deviceId), JSON.stringify(ack));
  }

  private noteEngagement(
    before: boolean,
    real: { ign: boolean; spd: number },
    read: { ign: boolean | null; spd: number | null },
  ): void {
    if (before || !this.engaged) return;
    const unsafe =
      read.ign === null || read.spd === null
        ? 'ignition or speed unread'
        : real.ign || real.spd >= 1
          ? `machine ${real.ign ? 'running' : 'moving'} at ${real.spd} km/h`
          : null;
    this.engagements.push({
      at: this.now,
      commandId: this.armedBy?.id ?? null,
      sentAt: this.armedBy?.sentAt ?? this.now,
      unsafe,
    });
  }

  /** The box reads the machine and reports (when connected). */
  report(): void {
    const before = this.engaged;
    const truth = this.truth(before);
    const sent = this.box.report({
      v: 1,
      ts: this.now,
      lat: 30.5,
      lon: 114.3,
      fix: true,
      ...readingOf(truth.read),
    });
    this.noteEngagement(before, truth.real, truth.read);
    this.network.fromBox(topics.telemetry(this.deviceId), JSON.stringify(sent));
  }

  /** Ingest: classify and store one report, as the worker does, in one transaction. */
  async ingest(topic: string, payload: string): Promise<void> {
    const batch = classify(topic, Buffer.from(payload), this.now, {
      maxPayloadBytes: 65_536,
      maxClockSkewMs: 4 * 86_400_000,
    });
    await this.epoch.db.transaction(async (tx) => {
      await writeBatch(tx, await rejectUnknownDevices(tx, batch));
    });
  }

  /** Messages through, the dispatcher's pass, messages through again, until nothing moves. */
  async settle(): Promise<void> {
    for (let i = 0; i < 6; i++) {
      const moved = await this.deliver();
      await this.dispatcher.pass();
      if (moved === 0 && (await this.deliver()) === 0) break;
    }
  }

  private async deliver(): Promise<number> {
    const reports: { topic: string; payload: string }[] = [];
    this.network.onTelemetry = (topic, payload) => reports.push({ topic, payload });
    const n = this.network.deliver();
    for (const r of reports) await this.ingest(r.topic, r.payload);
    return n;
  }

  /** The daily recomputation of stages, as the api's timer runs it. */
  async refreshStages(): Promise<void> {
    // The api's timer runs it often; it only has work when a contract's local date has moved on.
    const today = localDate(this.now, 'Asia/Shanghai');
    if (today === this.refreshedOn) return;
    await refreshDueAccounts(this.epoch.db, this.now);
    this.refreshedOn = today;
  }

  private refreshedOn = '';

  /** The box comes back: its status, then the queued messages. */
  reconnect(): void {
    this.network.boxOnline = true;
    this.network.fromBox(topics.status(this.deviceId), 'online');
  }
}

function readingOf(r: { ign: boolean | null; spd: number | null }): { ign?: boolean; spd?: number } {
  return { ...(r.ign === null ? {} : { ign: r.ign }), ...(r.spd === null ? {} : { spd: r.spd }) };
}
