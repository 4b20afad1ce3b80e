import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { MQTT_HEADER_ALLOWANCE, maxPacketBytes, packetSizeGuard } from '../../broker/packet-limit.ts';

const publish = (payloadBytes: number, topic = 'devices/SIM-000001/telemetry') =>
  mqttPacket.generate({
    cmd: 'publish',
    topic,
    payload: Buffer.alloc(payloadBytes, 0x61),
    qos: 1,
    messageId: 7,
    retain: false,
    dup: false,
  });

/** MQTT's variable byte integer: seven bits a byte, least significant first. */
const remainingLength = (n: number) => {
  const bytes: number[] = [];
  do {
    bytes.push((n % 128) | (n >= 128 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return bytes;
};

/** Feeds the bytes in pieces of `size`, as a socket might deliver them. */
const feed = (limit: number, bytes: Buffer, size: number) => {
  const guard = packetSizeGuard(limit);
  for (let i = 0; i < bytes.length; i += size) {
    const over = guard.accept(bytes.subarray(i, i + size));
    if (over !== null) return { over, at: i };
  }
  return null;
};

describe('the embedded broker packet size guard', () => {
  const limit = maxPacketBytes(64 * 1024);

  it('leaves every packet up to the limit alone, however the stream is cut', () => {
    const connect = mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: 'SIM-000001',
      clean: true,
      keepalive: 30,
      username: 'SIM-000001',
      password: Buffer.from('0123456789abcdef0123456789abcdef'),
    });
    const stream = Buffer.concat([
      connect,
      publish(64 * 1024),
      mqttPacket.generate({ cmd: 'pingreq' }),
      publish(0),
      publish(64 * 1024 + MQTT_HEADER_ALLOWANCE - 100),
    ]);
    for (const size of [1, 2, 3, 7, 1000, 65_536, stream.length])
      expect(feed(limit, stream, size), `${size}`).toBeNull();
  });

  it('names a packet announced over the limit from its header, before its body arrives', () => {
    // A CONNECT announcing 250 MB: only the type byte and the length were sent.
    const header = Buffer.from([0x10, ...remainingLength(250_000_000)]);
    expect(packetSizeGuard(limit).accept(header)).toBeGreaterThan(limit);
    // After packets that were fine, the oversize one is still found.
    const stream = Buffer.concat([publish(10), publish(64 * 1024), publish(limit)]);
    for (const size of [1, 5, 4096, stream.length]) {
      const found = feed(limit, stream, size);
      expect(found?.over, `${size}`).toBeGreaterThan(limit);
      // Seen in the header of the third packet, not after its body.
      expect(found?.at, `${size}`).toBeLessThan(publish(10).length + publish(64 * 1024).length + 8);
    }
  });

  it('refuses a remaining length longer than MQTT allows', () => {
    expect(
      packetSizeGuard(Number.MAX_SAFE_INTEGER).accept(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])),
    ).not.toBeNull();
  });
});
