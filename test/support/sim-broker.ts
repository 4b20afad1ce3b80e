/** In-process aedes broker and a listening client for the simulator integration tests. */
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';

export interface TestBroker {
  url: string;
  port: number;
  broker: Aedes;
  /** Stops accepting and cuts every connection, like a broker crash. */
  close(): Promise<void>;
}

export async function startBroker(port = 0): Promise<TestBroker> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    url: `mqtt://127.0.0.1:${actual}`,
    port: actual,
    broker,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    },
  };
}

export interface Heard {
  topic: string;
  payload: string;
  retain: boolean;
}

/** A platform-side listener that records everything under `devices/`. */
export async function listen(url: string): Promise<{ client: MqttClient; heard: Heard[] }> {
  const client = await mqtt.connectAsync(url, {
    clientId: `listener-${process.pid}-${Date.now()}`,
    clean: true,
  });
  const heard: Heard[] = [];
  client.on('message', (topic, payload, packet) => {
    heard.push({ topic, payload: payload.toString('utf8'), retain: packet.retain });
  });
  await client.subscribeAsync('devices/#', { qos: 1 });
  return { client, heard };
}

/** Polls until `check` passes or the time is up (no fixed sleeps). */
export async function waitFor(check: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
