/**
 * The GPS box's firmware as far as the network is concerned: one MQTT session per device
 * (client id = username = device id, password = device token, persistent session), a retained
 * `online`/`offline` status with the last will, QoS 1 telemetry, store-and-forward while the
 * connection is down, and a command inbox that answers on the ack topic. Used by the fleet runner
 * and by tests; the machine model decides what to say, this decides how it reaches the broker.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { type Telemetry, topics } from '../shared/protocol.ts';
import { Backlog, DEFAULT_BACKLOG_CHUNK } from './backlog.ts';
import { type SimLogger, silentLogger } from './log.ts';

/** A command as it arrives on `devices/{id}/commands`; the fields beyond `id` are a later issue. */
export interface DeviceCommand {
  id: string;
  [field: string]: unknown;
}

/** What the box answers on `devices/{id}/ack`. */
export interface CommandAck {
  id: string;
  ok: boolean;
  reason?: string;
  [field: string]: unknown;
}

export type CommandHandler = (command: DeviceCommand) => CommandAck | Promise<CommandAck>;

/** Until commands are implemented every command is refused, so the platform never sees a false "done". */
export const refuseCommand: CommandHandler = (command) => ({
  id: command.id,
  ok: false,
  reason: 'unsupported',
});

export interface DeviceOptions {
  deviceId: string;
  token: string;
  mqttUrl: string;
  /** MQTT 3.1.1 (4) or 5. Default 4: what most boxes in the field speak. */
  protocolVersion?: 4 | 5;
  /** Wait between reconnect attempts; the runner jitters it per device. Default 2000 ms. */
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  keepaliveS?: number;
  backlogChunk?: number;
  onCommand?: CommandHandler;
  /** Called on every (re)connection, after `online` is published and the backlog is on its way. */
  onConnect?: () => void;
  logger?: SimLogger;
}

export interface DeviceStats {
  connects: number;
  connectionLosses: number;
  /** Telemetry messages handed to the broker (a backlog array counts once). */
  messages: number;
  /** Reports inside those messages. */
  reports: number;
  backlogMessages: number;
  /** Reports waiting in the store-and-forward buffer now. */
  buffered: number;
  commands: number;
  errors: number;
}

const SESSION_EXPIRY_S = 7 * 24 * 3600;

export class SimDevice {
  readonly deviceId: string;
  private readonly client: MqttClient;
  private readonly backlog = new Backlog();
  private readonly logger: SimLogger;
  /** Reports published but not yet acknowledged; a lost link puts them back in the buffer. */
  private readonly inflight = new Map<number, Telemetry[]>();
  private nextInflight = 0;
  private begun = false;
  private linkDown = false;
  private stopped = false;
  private warned = false;
  private readonly counters = { connects: 0, connectionLosses: 0, messages: 0, reports: 0 };
  private readonly more = { backlogMessages: 0, commands: 0, errors: 0 };

  constructor(private readonly options: DeviceOptions) {
    this.deviceId = options.deviceId;
    this.logger = options.logger ?? silentLogger;
    const v5 = options.protocolVersion === 5;
    const clientOptions: IClientOptions = {
      clientId: options.deviceId,
      username: options.deviceId,
      password: options.token,
      clean: false,
      protocolVersion: options.protocolVersion ?? 4,
      keepalive: options.keepaliveS ?? 60,
      reconnectPeriod: options.reconnectPeriodMs ?? 2000,
      connectTimeout: options.connectTimeoutMs ?? 15_000,
      manualConnect: true,
      will: { topic: topics.status(options.deviceId), payload: Buffer.from('offline'), qos: 1, retain: true },
      // MQTT 5 ends a session at disconnect unless told otherwise; a box wants its commands kept.
      ...(v5 ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_S } } : {}),
    };
    this.client = mqtt.connect(options.mqttUrl, clientOptions);
    this.client.on('connect', () => this.onConnect());
    this.client.on('close', () => {
      if (this.counters.connects > 0 && !this.stopped) this.counters.connectionLosses++;
    });
    this.client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    // An 'error' with no listener would throw and take the host process down with it.
    this.client.on('error', (err) => {
      this.more.errors++;
      if (!this.warned) {
        this.warned = true;
        this.logger.warn({ deviceId: this.deviceId, err: err.message }, 'device cannot connect; retrying');
      }
    });
  }

  /** Starts connecting; reconnects on its own until stop(). */
  start(): void {
    if (this.begun || this.stopped) return;
    this.begun = true;
    this.client.connect();
  }

  get connected(): boolean {
    return this.client.connected && !this.linkDown;
  }

  stats(): DeviceStats {
    return { ...this.counters, ...this.more, buffered: this.backlog.size };
  }

  /** Publishes now if connected, otherwise keeps the reports for the next connection. */
  publishTelemetry(payload: Telemetry | Telemetry[]): void {
    const reports = Array.isArray(payload) ? payload : [payload];
    if (reports.length === 0) return;
    if (!this.connected || this.stopped) {
      for (const r of reports) this.backlog.push(r);
      return;
    }
    this.send(payload, reports);
  }

  /**
   * The box loses its network (no coverage, power gone, reboot): the socket dies without a
   * DISCONNECT, so the broker publishes the last will `offline`. Stays down until restoreLink().
   */
  dropLink(): void {
    if (this.linkDown || this.stopped) return;
    this.linkDown = true;
    if (!this.begun) return;
    // Unacknowledged reports may or may not have arrived; send them again later (at least once).
    for (const reports of this.inflight.values()) for (const r of reports) this.backlog.push(r);
    this.inflight.clear();
    // mqtt.js would otherwise wait forever for PUBACKs of the old connection, and a clean stop
    // after the link is back would hang on them.
    for (const id of Object.keys(this.client.outgoing)) this.client.removeOutgoingMessage(Number(id));
    this.client.end(true);
  }

  restoreLink(): void {
    if (!this.linkDown || this.stopped) return;
    this.linkDown = false;
    if (this.begun) this.client.reconnect();
  }

  /** A clean shutdown: status `offline` (retained), then DISCONNECT, so no last will fires. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (!this.begun) return;
    if (this.linkDown) return; // already cut off, the last will has spoken
    if (!this.client.connected && !this.client.disconnected) {
      // A connection under way is let finish (or fail) first: ending it before its CONNACK is
      // handled makes mqtt.js throw from inside its connack handler.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.client.off('connect', done);
          this.client.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, 2000);
        this.client.once('connect', done);
        this.client.once('close', done);
      });
    }
    if (!this.client.connected) {
      // Nothing to say goodbye over; just stop the reconnect loop.
      await this.client.endAsync(true).catch(() => {});
      return;
    }
    const graceful = async () => {
      await this.client.publishAsync(topics.status(this.deviceId), 'offline', { qos: 1, retain: true });
      await this.client.endAsync(false);
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const result = await Promise.race([graceful().catch(() => 'failed' as const), timeout]);
    clearTimeout(timer);
    if (result !== undefined) await this.client.endAsync(true).catch(() => {});
  }

  private send(payload: Telemetry | Telemetry[], reports: Telemetry[]): void {
    const key = this.nextInflight++;
    this.inflight.set(key, reports);
    this.counters.messages++;
    this.counters.reports += reports.length;
    if (Array.isArray(payload)) this.more.backlogMessages++;
    this.client.publish(topics.telemetry(this.deviceId), JSON.stringify(payload), { qos: 1 }, (err) => {
      // A key already gone means dropLink() requeued these reports.
      if (!this.inflight.delete(key) || !err) return;
      this.more.errors++;
      for (const r of reports) this.backlog.push(r);
    });
  }

  private onConnect(): void {
    if (this.linkDown || this.stopped) return;
    this.counters.connects++;
    this.warned = false;
    const id = this.deviceId;
    const log = (what: string) => (err?: Error | null) => {
      if (err) this.logger.debug({ deviceId: id, err: err.message }, `${what} failed`);
    };
    this.client.publish(topics.status(id), 'online', { qos: 1, retain: true }, log('status'));
    this.client.subscribe(topics.commands(id), { qos: 1 }, log('subscribe'));
    for (const chunk of this.backlog.drain(this.options.backlogChunk ?? DEFAULT_BACKLOG_CHUNK)) {
      this.send(chunk, chunk);
    }
    this.options.onConnect?.();
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    if (topic !== topics.commands(this.deviceId)) return;
    let command: unknown;
    try {
      command = JSON.parse(payload.toString('utf8'));
    } catch {
      command = null;
    }
    if (
      typeof command !== 'object' ||
      command === null ||
      typeof (command as DeviceCommand).id !== 'string'
    ) {
      // Without an id there is nothing to acknowledge; a real box would drop it too.
      this.logger.warn(
        { deviceId: this.deviceId, payload: payload.toString('utf8').slice(0, 200) },
        'bad command',
      );
      return;
    }
    this.more.commands++;
    let ack: CommandAck;
    try {
      ack = await (this.options.onCommand ?? refuseCommand)(command as DeviceCommand);
    } catch (e) {
      ack = { id: (command as DeviceCommand).id, ok: false, reason: `error: ${(e as Error).message}` };
    }
    this.client.publish(topics.ack(this.deviceId), JSON.stringify(ack), { qos: 1 }, (err) => {
      if (err) this.more.errors++;
    });
  }
}
