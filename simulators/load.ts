/**
 * Load generator: many boxes publishing valid telemetry as fast as the broker takes it (or at a
 * set rate), to measure what the broker and ingest sustain. Reports the achieved rate.
 *   npm run load -- --devices 10000 --rate max --qos 1 --duration 30
 * Each connection logs in as a simulated device (same ids and tokens as the fleet for --seed).
 * With --connections below --devices, each connection also publishes for other devices' topics,
 * which only a broker without per-device topic fences allows (a development Mosquitto).
 */
import { pathToFileURL } from 'node:url';
import mqtt, { type MqttClient } from 'mqtt';
import { topics } from '../shared/protocol.ts';
import {
  assertBrokerReachable,
  brokerUrlOption,
  commandLine,
  fmt,
  numberOption,
  parseStrict,
  runFail,
  startProgress,
} from './cli-kit.ts';
import { deviceIdFor, deviceTokenFor, seedTokenKey } from './identity.ts';
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
  /** Called as connections open and a few times a second while publishing. */
  onProgress?: (progress: LoadProgress) => void;
}

export interface LoadProgress {
  phase: 'connecting' | 'publishing';
  connected: number;
  connections: number;
  sent: number;
  done: number;
  failed: number;
  /** Seconds of publishing so far. */
  elapsedS: number;
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
      const client = await mqtt
        .connectAsync(
          o.mqttUrl,
          {
            clientId: id,
            username: id,
            password: deviceTokenFor(seedTokenKey(seed), id),
            clean: true,
            reconnectPeriod: 0,
            connectTimeout: 10_000,
            protocolVersion: o.protocolVersion ?? 4,
          },
          false,
        )
        .catch((e: Error) => {
          throw new Error(`cannot connect to the broker at ${o.mqttUrl} as ${id}: ${e.message}`);
        });
      client.on('error', () => {});
      const deviceIndexes: number[] = [];
      for (let d = c; d < o.devices; d += connections) deviceIndexes.push(d);
      conns.push({ client, deviceIndexes, next: 0, inflight: 0 });
      o.onProgress?.({ ...idle, connected: conns.length });
    }
  };
  const idle: LoadProgress = {
    phase: 'connecting',
    connected: 0,
    connections,
    sent: 0,
    done: 0,
    failed: 0,
    elapsedS: 0,
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
    let reportedAt = 0;
    const pacer = setInterval(() => {
      const now = Date.now();
      if (o.onProgress && now - reportedAt >= 200) {
        reportedAt = now;
        o.onProgress({
          phase: 'publishing',
          connected: conns.length,
          connections,
          sent,
          done,
          failed,
          elapsedS: Math.min(o.durationS, (now - start) / 1000),
        });
      }
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

export const LOAD_USAGE = `Usage: npm run load -- [options]

Many simulated boxes publishing valid telemetry as fast as the broker acknowledges (or at a set
rate); reports the achieved publish rate and PUBACK latency. Each connection logs in as a
simulated device (the fleet's ids and tokens for --seed).

Options:
  --devices <n>       devices to publish for (default 1000)
  --connections <n>   connections to open (default one per device); fewer than --devices
                      shares connections, which only a broker without per-device topic fences allows
  --rate <max|n>      messages per second over all connections, or max (default max)
  --qos <0|1>         publish QoS (default 1)
  --duration <s>      seconds of publishing (default 30)
  --seed <n>          fleet seed for ids and tokens (default 42)
  --window <n>        unacknowledged messages per connection (default 32)
  --protocol <4|5>    MQTT 3.1.1 or 5 (default 4)
  --mqtt-url <url>    broker URL (default $MQTT_URL or mqtt://localhost:1883)
  --json              print the result as one JSON line instead of the summary
  --quiet             no progress bar (it is drawn on a terminal only)
  --help              show this help
`;

export type LoadCli = { kind: 'help' } | { kind: 'run'; options: LoadOptions; json: boolean; quiet: boolean };

/** Parses `npm run load` arguments; a mistake throws a UsageError naming the option. */
export function parseLoadArgs(argv: string[], env: Record<string, string | undefined>): LoadCli {
  const { values } = parseStrict(argv, {
    'mqtt-url': { type: 'string' },
    devices: { type: 'string' },
    connections: { type: 'string' },
    rate: { type: 'string' },
    qos: { type: 'string' },
    duration: { type: 'string' },
    seed: { type: 'string' },
    window: { type: 'string' },
    protocol: { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return { kind: 'help' };
  const str = (k: string) => values[k] as string | undefined;
  const whole = (n: number) => Number.isInteger(n) && n >= 1;
  const devices = numberOption(
    'devices',
    str('devices'),
    1000,
    (n) => whole(n) && n <= 1_000_000,
    'a whole number 1-1000000',
  );
  const connections =
    str('connections') === undefined
      ? undefined
      : numberOption('connections', str('connections'), devices, whole, 'a whole number above 0');
  const rateRaw = str('rate') ?? 'max';
  const rate =
    rateRaw === 'max'
      ? null
      : numberOption('rate', rateRaw, 0, (n) => n > 0, '"max" or messages per second above 0');
  const qos = numberOption('qos', str('qos'), 1, (n) => n === 0 || n === 1, '0 or 1') as 0 | 1;
  const durationS = numberOption('duration', str('duration'), 30, (n) => n > 0, 'seconds above 0');
  const seed = numberOption('seed', str('seed'), 42, Number.isInteger, 'a whole number');
  const window =
    str('window') === undefined
      ? undefined
      : numberOption('window', str('window'), 32, whole, 'a whole number above 0');
  const protocolVersion = numberOption('protocol', str('protocol'), 4, (n) => n === 4 || n === 5, '4 or 5') as
    | 4
    | 5;
  const mqttUrl = brokerUrlOption(str('mqtt-url') ?? env.MQTT_URL ?? 'mqtt://localhost:1883');
  return {
    kind: 'run',
    options: { mqttUrl, devices, connections, rate, qos, durationS, seed, window, protocolVersion },
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

function loadSummary(result: LoadResult, o: LoadOptions): string {
  return [
    '',
    'Load summary',
    `  connections  ${fmt(result.connections)} (connected in ${result.connectSeconds.toFixed(1)} s)`,
    `  published    ${fmt(result.sent)} sent, ${fmt(result.done)} ${o.qos === 1 ? 'acknowledged' : 'written'}, ${fmt(result.failed)} failed`,
    `  rate         ${fmt(result.rate)} msg/s achieved (QoS ${o.qos}, asked ${o.rate === null ? 'max' : `${fmt(o.rate)} msg/s`})`,
    `  latency      p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const cli = commandLine('load', LOAD_USAGE, () => parseLoadArgs(process.argv.slice(2), process.env));
  if (!cli) return;
  const o = cli.options;
  await assertBrokerReachable(o.mqttUrl);
  const progress = startProgress({
    quiet: cli.quiet || cli.json,
    total: o.durationS,
    format: 'load {bar} {value}/{total} s | {phase} | {done} {acked} ({rate}/s), {failed} failed',
    payload: { phase: 'connecting', done: 0, acked: o.qos === 1 ? 'acked' : 'written', rate: 0, failed: 0 },
  });
  let lastDone = 0;
  let lastAt = Date.now();
  const result = await runLoad({
    ...o,
    onProgress(p) {
      const now = Date.now();
      const rate = ((p.done - lastDone) * 1000) / Math.max(1, now - lastAt);
      if (p.phase === 'publishing') {
        lastDone = p.done;
        lastAt = now;
      }
      progress.update(Math.floor(p.elapsedS), {
        phase:
          p.phase === 'connecting' ? `connecting ${fmt(p.connected)}/${fmt(p.connections)}` : 'publishing',
        done: fmt(p.done),
        rate: fmt(rate),
        failed: fmt(p.failed),
      });
    },
  }).finally(() => progress.stop());
  process.stdout.write(cli.json ? `${JSON.stringify(result)}\n` : loadSummary(result, o));
  if (result.done === 0)
    runFail('load', `nothing was ${o.qos === 1 ? 'acknowledged' : 'written'} by the broker at ${o.mqttUrl}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => runFail('load', e.message));
}
