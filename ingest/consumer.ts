/**
 * A small MQTT 3.1.1 subscriber built for ingest, on the same packet codec as mqtt.js and aedes
 * (mqtt-packet). Why not mqtt.js: it handles incoming packets strictly one after another and sends
 * each PUBACK from the message callback, so holding acknowledgements until a batch commits would
 * let only one message in at a time. Here every message is handed over with its own ack(), the
 * socket keeps reading, and PUBACKs go out when the caller says — after the commit. Anything not
 * acknowledged when the connection drops is redelivered by the broker (persistent session).
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import mqttPacket, {
  type IConnackPacket,
  type IPublishPacket,
  type ISubackPacket,
  type Packet,
} from 'mqtt-packet';

export interface InboundMessage {
  topic: string;
  payload: Buffer;
  /** Sends the PUBACK (QoS 1); a no-op for QoS 0 or after the connection it came on has closed. */
  ack(): void;
}

export interface ConsumerOptions {
  url: string;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  subscriptions: string[];
  onMessage(message: InboundMessage): void;
  onConnect?(sessionPresent: boolean): void;
  onError?(error: Error): void;
  keepaliveSeconds?: number;
  /**
   * The longest wait between reconnection attempts (default 1 s). The first attempt goes out after
   * FIRST_RECONNECT_MS and the wait doubles up to this: after a broker restart ingest must be
   * subscribed again before the devices are back (Mosquitto 2.0 does not keep shared subscriptions
   * over a restart, so a report published before that is acknowledged and dropped; the device
   * protocol asks boxes to wait at least 1 s before reconnecting).
   */
  reconnectMs?: number;
}

export interface Consumer {
  readonly connected: boolean;
  /** QoS 0 publish on the same connection (live announcements); dropped while disconnected. */
  publish(topic: string, payload: string): void;
  /** Removes the subscriptions (resolves on UNSUBACK, or after 2 s without one). */
  unsubscribe(): Promise<void>;
  /** Stop reading from the broker (backpressure); the broker queues in the meantime. */
  pause(): void;
  resume(): void;
  /**
   * Ends the connection. `disconnect: false` drops it without a DISCONNECT packet, as a crash would:
   * Mosquitto 2.0 then keeps the messages it had in flight to a shared-subscription member in the
   * member's session and hands them over when it returns (measured); after a DISCONNECT it did not.
   */
  close(options?: { disconnect: boolean }): Promise<void>;
}

export class ConnectRefusedError extends Error {}

/** The first reconnection attempt after a lost connection, ms (then doubling up to `reconnectMs`). */
export const FIRST_RECONNECT_MS = 50;

const CONNACK_REASONS: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'client id rejected',
  3: 'server unavailable',
  4: 'bad username or password',
  5: 'not authorized',
};

/** Connects and subscribes; resolves on the first successful CONNACK, rejects if that fails. */
export function startConsumer(options: ConsumerOptions): Promise<Consumer> {
  const url = new URL(options.url);
  if (!['mqtt:', 'tcp:', 'mqtts:'].includes(url.protocol)) {
    return Promise.reject(new Error(`ingest needs an mqtt:// or mqtts:// broker URL, got ${url.protocol}//`));
  }
  const keepalive = options.keepaliveSeconds ?? 30;
  let socket: Socket | null = null;
  let connected = false;
  let closing = false;
  let paused = false;
  let pingTimer: NodeJS.Timeout | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let nextId = 1;
  const unsubacks = new Map<number, () => void>();

  const send = (s: Socket, packet: Packet) => {
    if (!s.destroyed) s.write(mqttPacket.generate(packet));
  };

  return new Promise<Consumer>((resolveFirst, rejectFirst) => {
    let first = true;
    let reconnectWait = FIRST_RECONNECT_MS;

    const open = () => {
      const port = Number(url.port) || (url.protocol === 'mqtts:' ? 8883 : 1883);
      const s =
        url.protocol === 'mqtts:'
          ? tlsConnect({ host: url.hostname, port, servername: url.hostname })
          : netConnect({ host: url.hostname, port });
      socket = s;
      s.setNoDelay(true);
      const parser = mqttPacket.parser({ protocolVersion: 4 });

      s.once(url.protocol === 'mqtts:' ? 'secureConnect' : 'connect', () => {
        send(s, {
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: false,
          clientId: options.clientId,
          keepalive,
          ...(options.username ? { username: options.username } : {}),
          ...(options.password ? { password: Buffer.from(options.password) } : {}),
        });
      });
      s.on('data', (chunk) => parser.parse(chunk));
      parser.on('error', (e) => {
        options.onError?.(e);
        s.destroy();
      });
      parser.on('packet', (packet: Packet) => {
        switch (packet.cmd) {
          case 'connack':
            return onConnack(s, packet);
          case 'publish':
            return onPublish(s, packet);
          case 'suback':
            return onSuback(packet);
          case 'unsuback':
            return unsubacks.get(packet.messageId!)?.();
          default:
            return; // pingresp and anything else need no answer
        }
      });
      s.on('error', (e) => {
        if (first) return fail(e);
        options.onError?.(e);
      });
      s.on('close', () => {
        connected = false;
        clearInterval(pingTimer);
        if (!closing && !first) {
          reconnectTimer = setTimeout(open, reconnectWait);
          reconnectWait = Math.min(reconnectWait * 2, options.reconnectMs ?? 1000);
        }
      });
    };

    const fail = (e: Error) => {
      closing = true;
      socket?.destroy();
      rejectFirst(e);
    };

    const onConnack = (s: Socket, packet: IConnackPacket) => {
      const code = packet.returnCode ?? 0;
      if (code !== 0) {
        const error = new ConnectRefusedError(
          `broker refused the connection: ${CONNACK_REASONS[code] ?? `code ${code}`}`,
        );
        if (first) return fail(error);
        options.onError?.(error);
        return s.destroy();
      }
      connected = true;
      reconnectWait = FIRST_RECONNECT_MS;
      pingTimer = setInterval(() => send(s, { cmd: 'pingreq' }), (keepalive * 1000) / 2);
      // Subscribing again on a resumed session is harmless and covers a broker that lost it.
      send(s, {
        cmd: 'subscribe',
        messageId: nextId++,
        subscriptions: options.subscriptions.map((topic) => ({ topic, qos: 1 })),
      });
      if (paused) s.pause();
      options.onConnect?.(packet.sessionPresent);
      if (first) {
        first = false;
        resolveFirst(consumer);
      }
    };

    const onSuback = (packet: ISubackPacket) => {
      if (packet.granted.some((g) => (typeof g === 'number' ? g : (g as { qos: number }).qos) >= 0x80)) {
        options.onError?.(new Error(`broker refused a subscription: ${options.subscriptions.join(', ')}`));
      }
    };

    const onPublish = (s: Socket, packet: IPublishPacket) => {
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      let acked = packet.qos === 0;
      options.onMessage({
        topic: packet.topic,
        payload,
        ack() {
          if (acked) return;
          acked = true;
          if (socket === s) send(s, { cmd: 'puback', messageId: packet.messageId! });
        },
      });
    };

    const consumer: Consumer = {
      get connected() {
        return connected;
      },
      publish(topic, payload) {
        if (connected && socket)
          send(socket, { cmd: 'publish', topic, payload, qos: 0, dup: false, retain: false });
      },
      unsubscribe() {
        const s = socket;
        if (!connected || !s) return Promise.resolve();
        const messageId = nextId++;
        return new Promise<void>((resolve) => {
          const timer = setTimeout(done, 2000);
          function done() {
            clearTimeout(timer);
            unsubacks.delete(messageId);
            resolve();
          }
          unsubacks.set(messageId, done);
          send(s, { cmd: 'unsubscribe', messageId, unsubscriptions: options.subscriptions });
        });
      },
      pause() {
        paused = true;
        socket?.pause();
      },
      resume() {
        paused = false;
        socket?.resume();
      },
      async close(options = { disconnect: true }) {
        closing = true;
        clearTimeout(reconnectTimer);
        clearInterval(pingTimer);
        const s = socket;
        if (!s || s.destroyed) return;
        await new Promise<void>((resolve) => {
          s.once('close', () => resolve());
          if (options.disconnect) {
            send(s, { cmd: 'disconnect' });
            s.end();
            setTimeout(() => s.destroy(), 2000).unref();
          } else {
            // Flush what was written (the last PUBACKs), then drop the connection without DISCONNECT.
            s.end(() => s.destroy());
            setTimeout(() => s.destroy(), 2000).unref();
          }
        });
      },
    };

    open();
  });
}
