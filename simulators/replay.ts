/**
 * Replays a recording (NDJSON, see recording.ts) at N x speed, in order and with the recorded
 * spacing, through one MQTT connection. That suits an open development broker; a broker that
 * fences each device to its own topics needs the devices themselves (the fleet simulator).
 *   npm run replay -- test/fixtures/sim-traffic.ndjson --speed 10 --retime
 */
import { readFileSync } from 'node:fs';
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
  /** Called after each publish with the count so far. */
  onPublished?: (published: number) => void;
}

export interface ReplayResult {
  published: number;
  wallMs: number;
}

/** Status messages are retained as the box would have sent them; everything goes at QoS 1. */
export async function replayTraffic(options: ReplayOptions): Promise<ReplayResult> {
  if (!(options.speed > 0)) throw new RangeError('speed must be above 0');
  const now = options.now ?? Date.now;
  const client = await connectOnce(options.mqttUrl, {
    clientId: `replay-${process.pid}-${now()}`,
    clean: true,
    username: options.username,
    password: options.password,
    reconnectPeriod: 1000,
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
      options.onPublished?.(published);
    }
  } finally {
    await client.endAsync();
  }
  return { published, wallMs: now() - wall0 };
}

export const REPLAY_USAGE = `Usage: npm run replay -- <recording.ndjson> [options]

Publishes a recording (NDJSON from npm run record) in its original order, with the recorded
spacing divided by --speed, over one MQTT connection (status messages retained, all at QoS 1).

Options:
  <recording.ndjson>  the recording (or --file <path>)
  --speed <n|max>     n times faster than recorded; max = back to back (default 1)
  --retime            shift device times so the recording plays as if heard now
  --mqtt-url <url>    broker URL (default $MQTT_URL or mqtt://localhost:1883)
  --username <u>      broker user name
  --password <p>      broker password
  --quiet             no progress bar (it is drawn on a terminal only)
  --help              show this help
`;

export interface ReplayCliOptions {
  file: string;
  mqttUrl: string;
  speed: number;
  retime: boolean;
  username: string | undefined;
  password: string | undefined;
  quiet: boolean;
}

/** Parses `npm run replay` arguments; a mistake throws a UsageError naming the option. */
export function parseReplayArgs(
  argv: string[],
  env: Record<string, string | undefined>,
): { kind: 'help' } | { kind: 'run'; options: ReplayCliOptions } {
  const { values, positionals } = parseStrict(
    argv,
    {
      'mqtt-url': { type: 'string' },
      file: { type: 'string' },
      speed: { type: 'string' },
      retime: { type: 'boolean' },
      username: { type: 'string' },
      password: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) return { kind: 'help' };
  const str = (k: string) => values[k] as string | undefined;
  const files = [...positionals, ...(str('file') === undefined ? [] : [str('file')!])];
  if (files.length === 0)
    throw new UsageError('a recording file is required: npm run replay -- <file.ndjson>');
  if (files.length > 1)
    throw new UsageError(`one recording file at a time (got ${files.map((f) => `"${f}"`).join(', ')})`);
  const speedRaw = str('speed') ?? '1';
  const speed =
    speedRaw === 'max'
      ? Number.POSITIVE_INFINITY
      : numberOption('speed', speedRaw, 1, (n) => n > 0, 'a number above 0 or "max"');
  return {
    kind: 'run',
    options: {
      file: files[0]!,
      mqttUrl: brokerUrlOption(str('mqtt-url') ?? env.MQTT_URL ?? 'mqtt://localhost:1883'),
      speed,
      retime: values.retime === true,
      username: str('username'),
      password: str('password'),
      quiet: values.quiet === true,
    },
  };
}

async function main(): Promise<void> {
  const cli = commandLine('replay', REPLAY_USAGE, () => parseReplayArgs(process.argv.slice(2), process.env));
  if (!cli) return;
  const o = cli.options;
  let messages: RecordedMessage[];
  try {
    messages = parseRecording(readFileSync(o.file, 'utf8'));
  } catch (e) {
    runFail(
      'replay',
      `${o.file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
    );
  }
  const span = messages.length > 1 ? messages[messages.length - 1]!.t - messages[0]!.t : 0;
  const progress = startProgress({
    quiet: o.quiet,
    total: messages.length,
    format: 'replay {bar} {value}/{total} messages | {percentage}% | ETA {eta_formatted}',
  });
  const result = await replayTraffic({
    mqttUrl: o.mqttUrl,
    messages,
    speed: o.speed,
    retime: o.retime,
    username: o.username,
    password: o.password,
    onPublished: (n) => progress.update(n),
  }).finally(() => progress.stop());
  process.stdout.write(
    [
      '',
      'Replay summary',
      `  file        ${o.file}`,
      `  published   ${fmt(result.published)} of ${fmt(messages.length)} messages to ${o.mqttUrl}`,
      `  recorded    ${(span / 1000).toFixed(1)} s, replayed in ${(result.wallMs / 1000).toFixed(1)} s (${o.speed === Number.POSITIVE_INFINITY ? 'max speed' : `${o.speed}x`})`,
      '',
    ].join('\n'),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: Error) => runFail('replay', e.message));
}
