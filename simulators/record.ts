/**
 * Records broker traffic to NDJSON (see recording.ts), e.g. a simulated fleet for a fixture:
 *   npx tsx simulators/record.ts --mqtt-url mqtt://localhost:1883 --out traffic.ndjson --duration 60
 */
import { createWriteStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { type RecordedMessage, toNdjsonLine } from './recording.ts';

export interface RecordOptions {
  mqttUrl: string;
  /** Topic filters; default everything under devices/. */
  topics?: string[];
  username?: string;
  password?: string;
  /** Where each message goes, as an NDJSON line. */
  write: (line: string) => void;
  now?: () => number;
}

export interface Recorder {
  count(): number;
  stop(): Promise<void>;
}

export async function recordTraffic(options: RecordOptions): Promise<Recorder> {
  const now = options.now ?? Date.now;
  const client = await mqtt.connectAsync(options.mqttUrl, {
    clientId: `recorder-${process.pid}-${now()}`,
    clean: true,
    username: options.username,
    password: options.password,
    reconnectPeriod: 2000,
  });
  client.on('error', () => {}); // reconnects on its own; a recorder must not die mid-recording
  let count = 0;
  client.on('message', (topic, payload) => {
    const m: RecordedMessage = { t: now(), topic, payload: payload.toString('utf8') };
    options.write(toNdjsonLine(m));
    count++;
  });
  await client.subscribeAsync(options.topics ?? ['devices/#'], { qos: 1 });
  return {
    count: () => count,
    stop: async () => {
      await client.endAsync();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'mqtt-url': { type: 'string', default: process.env.MQTT_URL ?? 'mqtt://localhost:1883' },
      topic: { type: 'string', multiple: true },
      out: { type: 'string' },
      duration: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values.out) {
    process.stdout.write(
      'Usage: npx tsx simulators/record.ts --out <file.ndjson> [--mqtt-url URL] [--topic devices/#]…\n' +
        '       [--duration <s>] [--username U --password P]\n',
    );
    process.exit(values.help ? 0 : 2);
  }
  const out = createWriteStream(values.out);
  const recorder = await recordTraffic({
    mqttUrl: values['mqtt-url'],
    topics: values.topic,
    username: values.username,
    password: values.password,
    write: (line) => out.write(line),
  });
  const finish = async () => {
    await recorder.stop();
    await new Promise<void>((resolve) => out.end(resolve));
    process.stdout.write(`recorded ${recorder.count()} messages to ${values.out}\n`);
    process.exit(0);
  };
  process.on('SIGINT', () => void finish());
  if (values.duration) setTimeout(() => void finish(), Number(values.duration) * 1000);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => {
    process.stderr.write(`record: ${e.message}\n`);
    process.exit(1);
  });
}
