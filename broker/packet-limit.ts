/**
 * The embedded broker's packet size limit. aedes 1.2 has none: it buffers a packet whole, whatever
 * length its fixed header announces, so a CONNECT announcing 250 MB holds that connection's memory
 * until the bytes arrive, and a 32 MiB PUBLISH reaches ingest. This follows the packet boundaries of
 * a connection's byte stream (fixed header: one type byte, then the remaining length in 1-4 bytes of
 * seven bits each, least significant first) and names the first packet announced larger than the
 * limit from its header alone, before its body is read.
 */

/**
 * Bytes a packet may carry besides the payload: a PUBLISH's topic (a device's is under 100 bytes),
 * packet id and MQTT 5 properties; a CONNECT's client id, will, user name and password.
 */
export const MQTT_HEADER_ALLOWANCE = 1024;

/** The largest remaining length the broker takes when payloads may be `maxPayloadBytes`. */
export const maxPacketBytes = (maxPayloadBytes: number) => maxPayloadBytes + MQTT_HEADER_ALLOWANCE;

export interface PacketSizeGuard {
  /** Follows the next bytes; returns the (at least) announced length of a packet over the limit, or null. */
  accept(chunk: Uint8Array): number | null;
}

export function packetSizeGuard(maxRemainingLength: number): PacketSizeGuard {
  // Bytes of the current packet's body still to pass, or the remaining length being read.
  let bodyLeft = 0;
  let readingLength = false;
  let length = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  return {
    accept(chunk) {
      let i = 0;
      while (i < chunk.length) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, chunk.length - i);
          bodyLeft -= n;
          i += n;
          continue;
        }
        const byte = chunk[i++] as number;
        if (!readingLength) {
          // The type byte; the length follows.
          readingLength = true;
          length = 0;
          multiplier = 1;
          lengthBytes = 0;
          continue;
        }
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        lengthBytes += 1;
        // The bytes read so far are a lower bound of the length: over the limit is over already.
        // A fifth length byte is malformed (the most MQTT can announce is 268,435,455).
        if (length > maxRemainingLength || (byte & 0x80 && lengthBytes === 4)) return length;
        if (byte & 0x80) continue;
        readingLength = false;
        bodyLeft = length;
      }
      return null;
    },
  };
}
