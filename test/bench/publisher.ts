/**
 * The bench's device side, run as a child process (fork) so the publishers do not compete with the
 * broker and ingest for the parent's event loop. One mqtt.js connection per simulated device
 * (`B-000001` …), each with a small window of unacknowledged publishes, as fast as the broker takes
 * them. Talks to the parent over IPC: ready → go → done.
 *
 * Also usable in-process (runPublishers) — the parent does not, but tests or a profiler may.
 */
import mqtt, { type MqttClient } from 'mqtt';

export interface PublishPlan {
  mqttUrl: string;
  devices: number;
  qos: 0 | 1;
  /** Stop after this many seconds of publishing… */
  durationS: number;
  /** …or after this many messages in all, whichever comes first. */
  maxMessages?: number;
  /** Topic of device d is `${prefix}/${id}/telemetry`; `devices` for ingest, `bench/raw` for the raw baseline. */
  prefix: string;
  /** Unacknowledged publishes allowed per connection. */
  window: number;
}

export interface PublishResult {
  /** Handed to mqtt.js. */
  sent: number;
  /** PUBACK received (QoS 1) or written to the socket (QoS 0): what the device considers delivered. */
  published: number;
  failed: number;
  firstPublishAt: number;
  lastPublishAt: number;
  connectSeconds: number;
  peakRssBytes: number;
}

export const benchDeviceId = (index: number) => `B-${String(index + 1).padStart(6, '0')}`;

const CITIES = [
  { lat: 39.9042, lon: 116.4074 },
  { lat: 31.2304, lon: 121.4737 },
  { lat: 23.1291, lon: 113.2644 },
  { lat: 30.5728, lon: 104.0668 },
  { lat: 34.3416, lon: 108.9398 },
  { lat: 36.0611, lon: 103.8343 },
];

/** A realistic protocol v1 report; `ts` is the send time, so the store gives publish→commit latency. */
export function benchReport(device: number, seq: number, ts: number): string {
  const city = CITIES[device % CITIES.length]!;
  const wobble = ((device * 7919) % 1000) / 10_000 + seq / 1e6;
  return JSON.stringify({
    v: 1,
    seq,
    ts,
    lat: Math.round((city.lat + wobble) * 1e6) / 1e6,
    lon: Math.round((city.lon - wobble) * 1e6) / 1e6,
    alt: 48,
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

interface Conn {
  client: MqttClient;
  device: number;
  topic: string;
  seq: number;
  inflight: number;
}

export interface Publishers {
  connectSeconds: number;
  run(): Promise<PublishResult>;
  close(): Promise<void>;
}

export async function connectPublishers(plan: PublishPlan): Promise<Publishers> {
  const t0 = Date.now();
  const conns: Conn[] = [];
  const tag = Math.random().toString(36).slice(2, 8);
  let next = 0;
  const connectSome = async () => {
    while (next < plan.devices) {
      const device = next++;
      const id = benchDeviceId(device);
      const client = await mqtt.connectAsync(plan.mqttUrl, {
        clientId: `${id}-${tag}`,
        clean: true,
        reconnectPeriod: 0,
        protocolVersion: 4,
      });
      client.on('error', () => {});
      conns.push({ client, device, topic: `${plan.prefix}/${id}/telemetry`, seq: 0, inflight: 0 });
    }
  };
  await Promise.all(Array.from({ length: Math.min(50, plan.devices) }, connectSome));
  const connectSeconds = (Date.now() - t0) / 1000;
  let peakRss = process.memoryUsage().rss;

  return {
    connectSeconds,
    async close() {
      await Promise.all(conns.map((c) => c.client.endAsync(true)));
    },
    run() {
      const max = plan.maxMessages ?? Number.POSITIVE_INFINITY;
      let sent = 0;
      let published = 0;
      let failed = 0;
      let lastPublishAt = 0;
      const firstPublishAt = Date.now();
      const end = firstPublishAt + plan.durationS * 1000;
      let stopped = false;
      const rssTimer = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }, 100);

      return new Promise<PublishResult>((resolve) => {
        const finish = () => {
          clearInterval(rssTimer);
          resolve({
            sent,
            published,
            failed,
            firstPublishAt,
            lastPublishAt,
            connectSeconds,
            peakRssBytes: peakRss,
          });
        };
        const pending = () => conns.reduce((n, c) => n + c.inflight, 0);
        let settling = false;
        const settle = () => {
          if (settling) return;
          settling = true;
          // Outstanding acknowledgements get up to 30 s (a broker with a deep queue answers late).
          const until = Date.now() + 30_000;
          const poll = setInterval(() => {
            if (pending() === 0 || Date.now() > until) {
              clearInterval(poll);
              finish();
            }
          }, 20);
        };
        const publishOne = (conn: Conn) => {
          if (stopped || conn.inflight >= plan.window) return;
          if (sent >= max || Date.now() >= end) {
            stopped = true;
            settle();
            return;
          }
          const seq = conn.seq++;
          conn.inflight++;
          sent++;
          const now = Date.now();
          lastPublishAt = now;
          conn.client.publish(conn.topic, benchReport(conn.device, seq, now), { qos: plan.qos }, (err) => {
            conn.inflight--;
            if (err) failed++;
            else published++;
            publishOne(conn);
          });
        };
        for (const conn of conns) for (let i = 0; i < plan.window; i++) publishOne(conn);
        // A connection whose window never frees (no acks) must not keep the run going past `end`.
        const guard = setInterval(() => {
          if (Date.now() >= end || sent >= max) {
            clearInterval(guard);
            stopped = true;
            settle();
          }
        }, 50);
      });
    },
  };
}

// --- child-process entry -------------------------------------------------------------------------

type FromParent = { type: 'plan'; plan: PublishPlan } | { type: 'go' } | { type: 'exit' };

if (process.send && process.argv.includes('--bench-publisher')) {
  let publishers: Publishers | null = null;
  const send = (m: unknown) => process.send!(m);
  process.on('message', (m: FromParent) => {
    if (m.type === 'plan') {
      connectPublishers(m.plan).then(
        (p) => {
          publishers = p;
          send({ type: 'ready', connectSeconds: p.connectSeconds });
        },
        (e: Error) => send({ type: 'error', message: e.message }),
      );
    } else if (m.type === 'go') {
      publishers!
        .run()
        .then(async (result) => {
          await publishers!.close();
          send({ type: 'done', result });
        })
        .catch((e: Error) => send({ type: 'error', message: e.message }));
    } else if (m.type === 'exit') {
      process.exit(0);
    }
  });
}
