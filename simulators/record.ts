/**
 * Records broker traffic to NDJSON (see recording.ts), e.g. a simulated fleet for a fixture:
 *   npm run record -- --mqtt-url mqtt://localhost:1883 --out traffic.ndjson --duration 60
 */
import { createWriteStream } from 'node:fs';
import { pathToFileURL } from 'node:url';
import {
  brokerUrlOption,
  commandLine,
  connectOnce,
  fmt,
  numberOption,
  parseStrict,
  runFail,
  startProgress,
  UsageError,
} from './cli-kit.ts';
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
  const client = await connectOnce(options.mqttUrl, {
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

export const RECORD_USAGE = `Usage: npm run record -- --out <file.ndjson> [options]

Records broker traffic to NDJSON, one {"t","topic","payload"} a line (t: when heard, epoch ms),
until --duration is up or Ctrl-C. Replay it with npm run replay.

Options:
  --out <file>        where to write the recording (required)
  --topic <filter>    topic filter to record, repeatable (default devices/#)
  --duration <s>      stop after this many seconds (default: until Ctrl-C)
  --mqtt-url <url>    broker URL (default $MQTT_URL or mqtt://localhost:1883)
  --username <u>      broker user name (a service account that may read devices/#)
  --password <p>      broker password
  --quiet             no progress bar (it is drawn on a terminal only)
  --help              show this help
`;

export interface RecordCliOptions {
  out: string;
  topics: string[] | undefined;
  durationS: number | null;
  mqttUrl: string;
  username: string | undefined;
  password: string | undefined;
  quiet: boolean;
}

/** `#` only as the whole last level, `+` only as a whole level. */
function isTopicFilter(filter: string): boolean {
  const levels = filter.split('/');
  return (
    filter !== '' &&
    levels.every(
      (l, i) =>
        (!l.includes('#') || (l === '#' && i === levels.length - 1)) && (!l.includes('+') || l === '+'),
    )
  );
}

/** Parses `npm run record` arguments; a mistake throws a UsageError naming the option. */
export function parseRecordArgs(
  argv: string[],
  env: Record<string, string | undefined>,
): { kind: 'help' } | { kind: 'run'; options: RecordCliOptions } {
  const { values } = parseStrict(argv, {
    'mqtt-url': { type: 'string' },
    topic: { type: 'string', multiple: true },
    out: { type: 'string' },
    duration: { type: 'string' },
    username: { type: 'string' },
    password: { type: 'string' },
    quiet: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return { kind: 'help' };
  const str = (k: string) => values[k] as string | undefined;
  const out = str('out');
  if (!out) throw new UsageError('--out <file.ndjson> is required');
  const topicFilters = values.topic as string[] | undefined;
  for (const t of topicFilters ?? []) {
    if (!isTopicFilter(t))
      throw new UsageError(`--topic must be an MQTT topic filter like devices/# (got "${t}")`);
  }
  const durationRaw = str('duration');
  return {
    kind: 'run',
    options: {
      out,
      topics: topicFilters,
      durationS:
        durationRaw === undefined
          ? null
          : numberOption('duration', durationRaw, 0, (n) => n > 0, 'seconds above 0'),
      mqttUrl: brokerUrlOption(str('mqtt-url') ?? env.MQTT_URL ?? 'mqtt://localhost:1883'),
      username: str('username'),
      password: str('password'),
      quiet: values.quiet === true,
    },
  };
}

async function main(): Promise<void> {
  const cli = commandLine('record', RECORD_USAGE, () => parseRecordArgs(process.argv.slice(2), process.env));
  if (!cli) return;
  const o = cli.options;
  // Connect before creating the file, so a broker that cannot be reached leaves nothing behind.
  const lines: string[] = [];
  let write = (line: string) => void lines.push(line);
  const recorder = await recordTraffic({
    mqttUrl: o.mqttUrl,
    topics: o.topics,
    username: o.username,
    password: o.password,
    write: (line) => write(line),
  });
  const out = createWriteStream(o.out);
  out.on('error', (e) => runFail('record', `cannot write ${o.out}: ${e.message}`));
  for (const line of lines.splice(0)) out.write(line);
  write = (line) => void out.write(line);

  const startedAt = Date.now();
  const progress = startProgress({
    quiet: o.quiet,
    total: o.durationS ?? 0,
    format:
      o.durationS === null
        ? 'record | {elapsed} s | {count} messages'
        : 'record {bar} {value}/{total} s | {count} messages',
    payload: { count: 0, elapsed: 0 },
  });
  const ticker = setInterval(() => {
    const elapsed = Math.floor((Date.now() - startedAt) / 1000);
    progress.update(o.durationS === null ? 0 : Math.min(elapsed, o.durationS), {
      count: fmt(recorder.count()),
      elapsed,
    });
  }, 500);
  let finishing = false;
  const finish = async () => {
    if (finishing) return;
    finishing = true;
    clearInterval(ticker);
    progress.stop();
    await recorder.stop();
    await new Promise<void>((resolve) => out.end(resolve));
    const seconds = (Date.now() - startedAt) / 1000;
    process.stdout.write(
      [
        '',
        'Recording summary',
        `  file        ${o.out}`,
        `  messages    ${fmt(recorder.count())} from ${o.mqttUrl} (${(o.topics ?? ['devices/#']).join(', ')})`,
        `  duration    ${seconds.toFixed(1)} s`,
        '',
      ].join('\n'),
    );
    process.exit(0);
  };
  process.on('SIGINT', () => void finish());
  process.on('SIGTERM', () => void finish());
  if (o.durationS !== null) setTimeout(() => void finish(), o.durationS * 1000);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => runFail('record', e.message));
}
