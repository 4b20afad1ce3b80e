/** Command-line options of `npm run sim`, parsed and checked without side effects. */
import { DEVICE_ID_PREFIX } from '../shared/protocol.ts';
import { brokerUrlOption, numberOption as number, parseStrict } from './cli-kit.ts';
import { DEFAULT_ID_PREFIX } from './identity.ts';

export const USAGE = `Usage: npm run sim -- [options]

Runs a fleet of simulated GPS boxes against an MQTT broker. Each box logs in as itself
(client id = user name = device id, password = its token), so on a broker with
authentication the devices must be provisioned with the same --seed.

Options:
  --devices <n>       machines to simulate (default 200)
  --speed <x>         simulated seconds per real second (default 1)
  --seed <n>          seed for the whole fleet: ids, tokens, lives (default 42)
  --id-prefix <p>     device ids are <p>-000001, <p>-000002, … (default SIM); two fleets
                      on one broker need different prefixes
  --mqtt-url <url>    broker URL (default $MQTT_URL or mqtt://localhost:1883)
  --start <when>      simulated start: ISO time, "now", or how long ago: "7d", "12h", "30m"
                      (default: now at speed 1, 7d ago when faster; the simulated clock
                      never runs ahead of the wall clock, see docs/simulators.md)
  --duration <s>      stop after this many real seconds (default: run until Ctrl-C)
  --protocol <4|5>    MQTT protocol version the boxes speak (default 4, i.e. 3.1.1)
  --story-in <min>    the story machine (SIM-000001) leaves this many simulated minutes
                      after start (default: 23:30 China time on the first night)
  --no-story          no scripted story; SIM-000001 lives like the others
  --truth <file>      write the ground truth (yards, sites, days, events) as JSON,
                      at start and again on exit
  --api-url <url>     set up the platform at this address first: sign in, provision the
                      fleet's devices and machines and save the demo contracts through
                      its api (http:// or https://), then run the fleet
  --api-user <name>   the admin user to sign in as (required with --api-url)
  --api-password <p>  its password (default $SIM_API_PASSWORD, which keeps it out of
                      the process list)
  --quiet             no progress bar, only the summary (the bar is drawn on a terminal
                      only: redirected output gets just the summary)
  --help              show this help
`;

export interface SimCliOptions {
  devices: number;
  speed: number;
  seed: number;
  idPrefix: string;
  mqttUrl: string;
  start: number;
  durationS: number | null;
  protocolVersion: 4 | 5;
  storyDepartAt: number | null | false;
  truthFile: string | null;
  quiet: boolean;
  /** Set up the platform through its api before running (--api-url); undefined = leave it as it is. */
  api: { url: string; user: string; password: string } | undefined;
}

export type ParsedCli =
  | { kind: 'help' }
  | { kind: 'run'; options: SimCliOptions }
  | { kind: 'error'; message: string };

/** How long ago: `7d`, `12h`, `30m`; also `-7d` (written `--start=-7d`) and `7d ago`. */
const RELATIVE = /^-?(\d+(?:\.\d+)?)([dhm])(?:\s*ago)?$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

export function parseSimArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  now: number,
): ParsedCli {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseStrict(argv, {
      devices: { type: 'string' },
      speed: { type: 'string' },
      seed: { type: 'string' },
      'id-prefix': { type: 'string' },
      'mqtt-url': { type: 'string' },
      start: { type: 'string' },
      duration: { type: 'string' },
      protocol: { type: 'string' },
      'story-in': { type: 'string' },
      'no-story': { type: 'boolean' },
      truth: { type: 'string' },
      quiet: { type: 'boolean' },
      'api-url': { type: 'string' },
      'api-user': { type: 'string' },
      'api-password': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    }));
  } catch (e) {
    return { kind: 'error', message: (e as Error).message };
  }
  if (values.help) return { kind: 'help' };
  const str = (k: string) => values[k] as string | undefined;
  try {
    const devices = number(
      'devices',
      str('devices'),
      200,
      (n) => Number.isInteger(n) && n >= 0 && n <= 100_000,
      'a whole number 0-100000',
    );
    const speed = number(
      'speed',
      str('speed'),
      1,
      (n) => n > 0 && n <= 100_000,
      'a number above 0 (at most 100000)',
    );
    const seed = number('seed', str('seed'), 42, Number.isInteger, 'a whole number');
    const idPrefix = str('id-prefix') ?? DEFAULT_ID_PREFIX;
    if (!DEVICE_ID_PREFIX.test(idPrefix))
      throw new Error(
        `--id-prefix must be 1-40 of A-Z a-z 0-9 _ . -, starting alphanumeric (got "${idPrefix}")`,
      );
    const mqttUrl = brokerUrlOption(str('mqtt-url') ?? env.MQTT_URL ?? 'mqtt://localhost:1883');
    const start = parseStart(str('start'), speed, now);
    const durationRaw = str('duration');
    const durationS =
      durationRaw === undefined ? null : number('duration', durationRaw, 0, (n) => n > 0, 'seconds above 0');
    const protocolVersion = number('protocol', str('protocol'), 4, (n) => n === 4 || n === 5, '4 or 5') as
      | 4
      | 5;
    if (values['no-story'] && str('story-in') !== undefined)
      throw new Error('--story-in and --no-story contradict each other');
    const storyIn = str('story-in');
    if (str('api-url') === undefined && (str('api-user') ?? str('api-password')) !== undefined)
      throw new Error('--api-user and --api-password go with --api-url');
    const storyDepartAt = values['no-story']
      ? false
      : storyIn === undefined
        ? null
        : start + number('story-in', storyIn, 0, (n) => n >= 0, 'minutes, 0 or more') * 60_000;
    return {
      kind: 'run',
      options: {
        devices,
        speed,
        seed,
        idPrefix,
        mqttUrl,
        start,
        durationS,
        protocolVersion,
        storyDepartAt,
        truthFile: str('truth') ?? null,
        quiet: values.quiet === true,
        api: parseApi(str('api-url'), str('api-user'), str('api-password') ?? env.SIM_API_PASSWORD),
      },
    };
  } catch (e) {
    return { kind: 'error', message: (e as Error).message };
  }
}

function parseStart(raw: string | undefined, speed: number, now: number): number {
  if (raw === undefined) return speed > 1 ? now - 7 * UNIT_MS.d : now;
  if (raw === 'now') return now;
  const rel = RELATIVE.exec(raw);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2] as keyof typeof UNIT_MS];
  const t = Date.parse(raw);
  if (Number.isNaN(t))
    throw new Error(`--start must be an ISO time, "now" or how long ago like "7d" (got "${raw}")`);
  if (t > now + 5 * 60_000)
    throw new Error('--start is in the future: the platform rejects reports from the future');
  return t;
}

function parseApi(
  url: string | undefined,
  user: string | undefined,
  password: string | undefined,
): SimCliOptions['api'] {
  if (url === undefined) return undefined;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error(`--api-url must be a URL like http://host:8080 (got "${url}")`);
  }
  if (protocol !== 'http:' && protocol !== 'https:')
    throw new Error(`--api-url must start with http:// or https:// (got "${url}")`);
  if (!user) throw new Error('--api-url needs --api-user (an admin of the platform)');
  if (!password) throw new Error('--api-url needs --api-password or $SIM_API_PASSWORD');
  return { url, user, password };
}
