/**
 * The in-process MQTT broker (aedes) used when MQTT_URL is unset, with the same rules a production
 * Mosquitto enforces: CONNECT needs a device's token (checked against the registry) or a service
 * account, and topics are fenced per device (access.ts).
 */
import { createServer, type Server } from 'node:net';
import { Aedes, type Client } from 'aedes';
import { connectHost } from '../shared/config.ts';
import { mayPublish, maySubscribe, type Principal } from './access.ts';
import { packetSizeGuard } from './packet-limit.ts';

export interface Credentials {
  /** Resolves a username/password pair to who it is, or null when it is not valid. */
  verify(username: string, password: string): Promise<Principal | null>;
}

/** The platform's own account on the broker (a fresh random password per run on the embedded one). */
export interface ServiceAccount {
  username: string;
  password: string;
}

/**
 * Who may connect: the service account by its password, anyone else as a device by its token,
 * checked with `verifyDevice` (the registry's check, handed in by whoever hosts the broker).
 */
export function serviceOrDevice(
  service: ServiceAccount,
  verifyDevice: (deviceId: string, token: string) => Promise<boolean>,
): Credentials {
  return {
    async verify(username, password) {
      if (username === service.username) {
        return password === service.password ? { kind: 'service', name: username } : null;
      }
      return (await verifyDevice(username, password)) ? { kind: 'device', deviceId: username } : null;
    },
  };
}

/** Where the broker listens, and the largest packet (remaining length) it takes. */
export interface EmbeddedListen {
  port: number;
  host: string;
  maxPacketBytes: number;
}

export interface EmbeddedBroker {
  port: number;
  url: string;
  close(): Promise<void>;
}

export class PortInUseError extends Error {}

const principals = new WeakMap<Client, Principal>();

interface SessionStore {
  addSubscriptions(client: Client, subs: { topic: string }[]): Promise<void>;
}

export async function startEmbeddedBroker(
  { port, host, maxPacketBytes }: EmbeddedListen,
  credentials: Credentials,
): Promise<EmbeddedBroker> {
  const aedes = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const fail = () => {
        // 5 = "not authorized" (MQTT 3.1.1) and maps to 0x87 for MQTT 5 clients.
        const error = Object.assign(new Error('not authorized'), { returnCode: 5 });
        done(error as never, false);
      };
      if (!username || !password) return fail();
      credentials
        .verify(username, password.toString())
        .then((who) => {
          // The client id must be the device id, so a device cannot take over another's session.
          if (!who || (who.kind === 'device' && client.id !== who.deviceId)) return fail();
          principals.set(client, who);
          done(null, true);
        })
        .catch(() => fail());
    },
    authorizePublish(client, packet, done) {
      const who = client ? principals.get(client) : undefined;
      if (client && (!who || !mayPublish(who, packet.topic))) {
        return done(new Error(`publish to ${packet.topic} not allowed`));
      }
      done(null);
    },
    authorizeSubscribe(client, subscription, done) {
      const who = principals.get(client);
      // A refused topic gets a failure code in SUBACK (0x80) rather than a dropped connection.
      if (!who || !maySubscribe(who, subscription.topic)) return done(null, null);
      done(null, subscription);
    },
  });
  // aedes 1.2 stores every topic of a SUBSCRIBE packet in a persistent session as soon as one of
  // them is granted, refused ones included, and replays them when the client reconnects: a device
  // asking for its own and another device's commands in one packet would later receive the other's.
  // The session store therefore keeps only topics the principal may subscribe to.
  // (The persistence object is public in aedes but untyped in its declarations.)
  const store = (aedes as unknown as { persistence: SessionStore }).persistence;
  const addSubscriptions = store.addSubscriptions.bind(store);
  store.addSubscriptions = (client, subs) => {
    const who = principals.get(client);
    return addSubscriptions(
      client,
      subs.filter((s) => who !== undefined && maySubscribe(who, s.topic)),
    );
  };
  const server: Server = createServer((socket) => {
    aedes.handle(socket);
    // aedes reads the socket with read() on 'readable'; a 'data' listener then sees each chunk as
    // it is read, before aedes parses it, without switching the socket to flowing mode. A packet
    // announced over the limit ends the connection there: at most that one chunk was buffered.
    const guard = packetSizeGuard(maxPacketBytes);
    socket.on('data', (chunk: Buffer) => {
      if (guard.accept(chunk) !== null) socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new PortInUseError(
              `MQTT port ${port} is already in use. Set MQTT_PORT to a free port for the embedded broker, ` +
                'or set MQTT_URL to use the broker that is already running there.',
            )
          : e,
      ),
    );
    server.listen(port, host, () => resolve());
  });
  const actual = (server.address() as { port: number }).port;
  return {
    port: actual,
    url: `mqtt://${connectHost(host)}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        aedes.close(() => server.close(() => resolve()));
        // Connected clients keep the server open; aedes.close ends them.
      }),
  };
}
