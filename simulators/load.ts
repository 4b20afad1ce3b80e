/**
 * Load generator: many boxes publishing valid telemetry as fast as the broker takes it (or at a
 * set rate), to measure what the broker and ingest sustain. Reports the achieved rate.
 *   npx tsx simulators/load.ts --devices 10000 --rate max --qos 1 --duration 30
 * Each connection logs in as a simulated device (same ids and tokens as the fleet for --seed).
 * With --connections below --devices, each connection also publishes for other devices' topics,
 * which only a broker without per-device topic fences allows (a development Mosquitto).
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../shared/protocol.ts';
import { deviceIdFor, deviceTokenFor } from './identity.ts';
import { CITIES } from './places.ts';

export interface LoadOptions {
  mqttUrl: string;
  devices: number;
  /** Connections to open; default one per device. */
  connections?: number;
  /** Messages per second over all connections; null = as fast as the broker acknowledges. */
  rate: number | null;
  qos: 0 | 1;
  durationS: number;
  seed?: number;
  /** Unacknowledged messages allowed per connection. Default 32. */
  window?: number;
  protocolVersion?: 4 | 5;
}

export interface LoadResult {
  connections: number;
  connectSeconds: number;
  sent: number;
  /** Acknowledged (QoS 1) or written to the socket (QoS 0). */
  done: number;
  failed: number;
  /** done per second over the publishing period. */
  rate: number;
  latencyMs: { p50: number; p99: number; max: number };
}

interface Conn {
  client: MqttClient;
  deviceIndexes: number[];
  next: number;
  inflight: number;
}

function report(device: number, seq: number): string {
  const city = CITIES[device % CITIES.length]!;
  const wobble = ((device * 7919) % 1000) / 10_000;
  return JSON.stringify({
    v: 1,
    seq,
    ts: Date.now(),
    lat: Math.round((city.lat + wobble) * 1e6) / 1e6,
    lon: Math.round((city.lon - wobble) * 1e6) / 1e6,
    spd: seq % 7,
    hdg: (seq * 13) % 360,
    sat: 11,
    fix: true,
    ign: true,
    hrs: 1000 + seq / 120,
    pwr: 27.9,
    bat: 100,
    rssi: -71,
    rly: false,
  });
}

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const seed = o.seed ?? 42;
  const connections = Math.max(1, Math.min(o.devices, o.connections ?? o.devices));
  const window = Math.max(1, o.window ?? 32);
  const t0 = Date.now();
  const conns: Conn[] = [];
  let nextIndex = 0;
  const connectOne = async () => {
    while (nextIndex < connections) {
      const c = nextIndex++;
      const id = deviceIdFor(c);
      const client = await mqtt.connectAsync(o.mqttUrl, {
        clientId: id,
        username: id,
        password: deviceTokenFor(seed, c),
        clean: true,
        reconnectPeriod: 0,
        protocolVersion: o.protocolVersion ?? 4,
      });
      client.on('error', () => {});
      const deviceIndexes: number[] = [];
      for (let d = c; d < o.devices; d += connections) deviceIndexes.push(d);
      conns.push({ client, deviceIndexes, next: 0, inflight: 0 });
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(100, connections) }, connectOne));
  } catch (e) {
    await Promise.all(conns.map((c) => c.client.endAsync(true)));
    throw e;
  }
  const connectSeconds = (Date.now() - t0) / 1000;

  let sent = 0;
  let done = 0;
  let failed = 0;
  const latencies: number[] = [];
  const seqs = new Map<number, number>();
  const start = Date.now();
  const end = start + o.durationS * 1000;
  let budget = o.rate === null ? Number.POSITIVE_INFINITY : 0;

  const publishOne = (conn: Conn): boolean => {
    if (conn.inflight >= window || budget < 1 || Date.now() >= end) return false;
    budget--;
    const device = conn.deviceIndexes[conn.next++ % conn.deviceIndexes.length]!;
    const seq = seqs.get(device) ?? 0;
    seqs.set(device, seq + 1);
    conn.inflight++;
    sent++;
    const at = Date.now();
    conn.client.publish(topics.telemetry(deviceIdFor(device)), report(device, seq), { qos: o.qos }, (err) => {
      conn.inflight--;
      if (err) failed++;
      else {
        done++;
        if (latencies.length < 200_000) latencies.push(Date.now() - at);
      }
      if (o.rate === null) publishOne(conn);
    });
    return true;
  };

  await new Promise<void>((resolve) => {
    if (o.rate === null) {
      for (const conn of conns) for (let i = 0; i < window; i++) publishOne(conn);
    }
    let round = 0;
    const pacer = setInterval(() => {
      if (o.rate !== null) {
        budget = Math.min(budget + o.rate / 100, o.rate); // at most a second's worth saved up
        // Round robin until the budget is spent or every connection's window is full.
        for (let idle = 0; budget >= 1 && idle < conns.length; ) {
          idle = publishOne(conns[round++ % conns.length]!) ? 0 : idle + 1;
        }
      }
      if (Date.now() >= end) {
        clearInterval(pacer);
        resolve();
      }
    }, 10);
  });
  const publishEnd = Date.now();
  // Give outstanding acknowledgements a moment to arrive before counting.
  const drainUntil = Date.now() + 10_000;
  while (conns.some((c) => c.inflight > 0) && Date.now() < drainUntil)
    await new Promise((r) => setTimeout(r, 20));
  await Promise.all(conns.map((c) => c.client.endAsync(true)));
  latencies.sort((a, b) => a - b);
  return {
    connections,
    connectSeconds,
    sent,
    done,
    failed,
    rate: done / Math.max(0.001, (publishEnd - start) / 1000),
    latencyMs: {
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      max: latencies[latencies.length - 1] ?? 0,
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mqtt-url': { type: 'string', default: process.env.MQTT_URL ?? 'mqtt://localhost:1883' },
      devices: { type: 'string', default: '1000' },
      connections: { type: 'string' },
      rate: { type: 'string', default: 'max' },
      qos: { type: 'string', default: '1' },
      duration: { type: 'string', default: '30' },
      seed: { type: 'string', default: '42' },
      window: { type: 'string' },
      protocol: { type: 'string', default: '4' },
      json: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const devices = Number(values.devices);
  const rate = values.rate === 'max' ? null : Number(values.rate);
  const qos = Number(values.qos);
  const durationS = Number(values.duration);
  const bad =
    !Number.isInteger(devices) ||
    devices < 1 ||
    (rate !== null && !(rate > 0)) ||
    (qos !== 0 && qos !== 1) ||
    !(durationS > 0) ||
    (values.protocol !== '4' && values.protocol !== '5');
  if (values.help || bad) {
    process.stdout.write(
      'Usage: npx tsx simulators/load.ts [--devices N] [--connections N] [--rate max|N] [--qos 0|1]\n' +
        '       [--duration S] [--seed N] [--window N] [--protocol 4|5] [--mqtt-url URL] [--json]\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  const result = await runLoad({
    mqttUrl: values['mqtt-url'],
    devices,
    connections: values.connections ? Number(values.connections) : undefined,
    rate,
    qos: qos as 0 | 1,
    durationS,
    seed: Number(values.seed),
    window: values.window ? Number(values.window) : undefined,
    protocolVersion: Number(values.protocol) as 4 | 5,
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(
    [
      `connections  ${result.connections} (connected in ${result.connectSeconds.toFixed(1)} s)`,
      `published    ${result.sent} sent, ${result.done} ${qos === 1 ? 'acknowledged' : 'written'}, ${result.failed} failed`,
      `rate         ${Math.round(result.rate)} msg/s (QoS ${qos})`,
      `latency      p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms`,
      '',
    ].join('\n'),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    process.stderr.write(`load: ${e.message}\n`);
    process.exit(1);
  });
}
