/**
 * Replays a recording (NDJSON, see recording.ts) at N x speed, in order and with the recorded
 * spacing, through one MQTT connection. That suits an open development broker; a broker that
 * fences each device to its own topics needs the devices themselves (the fleet simulator).
 *   npx tsx simulators/replay.ts --file test/fixtures/sim-traffic.ndjson --speed 10 --retime
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { parseRecording, type RecordedMessage, retimePayload } from './recording.ts';

export interface ReplayOptions {
  mqttUrl: string;
  messages: RecordedMessage[];
  /** 1 = as recorded, 10 = ten times faster; Infinity = back to back. */
  speed: number;
  /** Shift telemetry device times by (now - time the first message was heard), keeping each report's lag. */
  retime?: boolean;
  username?: string;
  password?: string;
  now?: () => number;
}

export interface ReplayResult {
  published: number;
  wallMs: number;
}

/** Status messages are retained as the box would have sent them; everything goes at QoS 1. */
export async function replayTraffic(options: ReplayOptions): Promise<ReplayResult> {
  if (!(options.speed > 0)) throw new RangeError('speed must be above 0');
  const now = options.now ?? Date.now;
  const client = await mqtt.connectAsync(options.mqttUrl, {
    clientId: `replay-${process.pid}-${now()}`,
    clean: true,
    username: options.username,
    password: options.password,
  });
  client.on('error', () => {});
  const first = options.messages[0];
  const wall0 = now();
  const shift = options.retime && first ? wall0 - first.t : 0;
  let published = 0;
  try {
    for (const m of options.messages) {
      // Wait for this message's moment relative to the first one; sleeping per message keeps the
      // order exact and the spacing right to within a timer tick.
      const due = wall0 + (m.t - (first?.t ?? m.t)) / options.speed;
      const wait = due - now();
      if (wait > 0 && Number.isFinite(wait)) await new Promise((r) => setTimeout(r, wait));
      await client.publishAsync(m.topic, retimePayload(m.topic, m.payload, shift), {
        qos: 1,
        retain: m.topic.endsWith('/status'),
      });
      published++;
    }
  } finally {
    await client.endAsync();
  }
  return { published, wallMs: now() - wall0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mqtt-url': { type: 'string', default: process.env.MQTT_URL ?? 'mqtt://localhost:1883' },
      file: { type: 'string' },
      speed: { type: 'string', default: '1' },
      retime: { type: 'boolean' },
      username: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  const speed = values.speed === 'max' ? Number.POSITIVE_INFINITY : Number(values.speed);
  if (values.help || !values.file || !(speed > 0)) {
    process.stdout.write(
      'Usage: npx tsx simulators/replay.ts --file <recording.ndjson> [--mqtt-url URL] [--speed N|max]\n' +
        '       [--retime] [--username U --password P]\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  const messages = parseRecording(readFileSync(values.file, 'utf8'));
  const result = await replayTraffic({
    mqttUrl: values['mqtt-url'],
    messages,
    speed,
    retime: values.retime,
    username: values.username,
    password: values.password,
  });
  process.stdout.write(`replayed ${result.published} messages in ${(result.wallMs / 1000).toFixed(1)} s\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    process.stderr.write(`replay: ${e.message}\n`);
    process.exit(1);
  });
}
