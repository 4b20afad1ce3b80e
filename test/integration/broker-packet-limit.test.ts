/**
 * The embedded broker's packet size limit (MAX_PAYLOAD_BYTES plus headers): a packet announced
 * larger is refused from its fixed header, before its body is buffered, whether or not the client
 * has logged in; a payload up to MAX_PAYLOAD_BYTES passes. Mosquitto's limit (message_size_limit) is
 * checked by deploy/mosquitto/selftest.sh, so this file runs on the embedded broker only.
 */
import { once } from 'node:events';
import { connect as tcpConnect } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import { MQTT_HEADER_ALLOWANCE } from '../../broker/packet-limit.ts';
import { topics } from '../../shared/protocol.ts';
import { realBroker } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const box = {
  deviceId: `PL${run}`,
  token: `token-${run}-packet-limit-0123456789abcdef`,
  machine: {
    id: `MPL${run}`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `SPL${run}`,
    year: 2022,
  },
};
const MAX_PAYLOAD_BYTES = 4096;

/** MQTT's variable byte integer: seven bits a byte, least significant first. */
const remainingLength = (n: number) => {
  const bytes: number[] = [];
  do {
    bytes.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return bytes;
};

describe.skipIf(realBroker)('embedded broker packet size limit', () => {
  let platform: TestPlatform;
  const clients: MqttClient[] = [];
  const asBox = async () => {
    const client = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: box.deviceId,
      username: box.deviceId,
      password: box.token,
      reconnectPeriod: 0,
    });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  /** 'acked' when the broker acknowledged the publish, 'closed' when it ended the connection. */
  const publish = async (client: MqttClient, payloadBytes: number) => {
    // Not events.once: the reset that ends the connection is also an 'error', which it would throw.
    const closed = new Promise<'closed'>((resolve) => client.once('close', () => resolve('closed')));
    const acked = client
      .publishAsync(topics.telemetry(box.deviceId), Buffer.alloc(payloadBytes, 0x20), { qos: 1 })
      .then(
        () => 'acked' as const,
        () => 'closed' as const,
      );
    return Promise.race([acked, closed]);
  };

  beforeAll(async () => {
    platform = await startTestPlatform({ MAX_PAYLOAD_BYTES });
    await provisionDevices(platform.db, [box]);
  });
  afterAll(async () => {
    for (const c of clients) await c.endAsync(true);
    await platform?.teardown();
  });

  it('closes a connection whose CONNECT announces 250 MB, before the bytes arrive', async () => {
    const { port, hostname } = new URL(platform.mqttUrl);
    const socket = tcpConnect(Number(port), hostname);
    await once(socket, 'connect');
    const ended = once(socket, 'close');
    // The fixed header and a first slice of the body; the other 250 MB never come.
    socket.write(Buffer.from([0x10, ...remainingLength(250_000_000)]));
    socket.write(Buffer.alloc(16 * 1024));
    await ended;
    expect(socket.destroyed).toBe(true);
  });

  it('ends the connection of a logged-in device that publishes more than MAX_PAYLOAD_BYTES plus headers', async () => {
    expect(await publish(await asBox(), MAX_PAYLOAD_BYTES + MQTT_HEADER_ALLOWANCE + 1)).toBe('closed');
    expect(await publish(await asBox(), 32 * 1024 * 1024)).toBe('closed');
  });

  it('takes a payload of MAX_PAYLOAD_BYTES', async () => {
    expect(await publish(await asBox(), MAX_PAYLOAD_BYTES)).toBe('acked');
  });
});
