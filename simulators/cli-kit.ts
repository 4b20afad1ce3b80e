/**
 * What every simulator command line shares: strict option parsing with one-line errors (exit 2),
 * a broker check that fails in seconds naming the URL instead of reconnecting forever (exit 1),
 * and a progress bar that only draws on a terminal, so a CI log gets the summary and nothing else.
 */
import { connect as tcpConnect } from 'node:net';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** Exit codes: 2 for a bad command line (as usual for CLIs), 1 for a failed run. */
export const EXIT_USAGE = 2;
export const EXIT_FAILED = 1;

/** A command-line mistake: the message names the option and the value it got. */
export class UsageError extends Error {}

export function usageFail(tool: string, message: string): never {
  process.stderr.write(`${tool}: ${message} (see --help)\n`);
  process.exit(EXIT_USAGE);
}

/**
 * The command line of `tool` as `parse` reads it; a UsageError ends the process (exit 2, one line),
 * and `--help` prints `usage` and gives null: the caller then has nothing to run.
 */
export function commandLine<T extends { kind: string }>(
  tool: string,
  usage: string,
  parse: () => T,
): Exclude<T, { kind: 'help' }> | null {
  let cli: T;
  try {
    cli = parse();
  } catch (e) {
    if (e instanceof UsageError) usageFail(tool, e.message);
    throw e;
  }
  if (cli.kind === 'help') {
    process.stdout.write(usage);
    return null;
  }
  return cli as Exclude<T, { kind: 'help' }>;
}

export function runFail(tool: string, message: string): never {
  process.stderr.write(`${tool}: ${message}\n`);
  process.exit(EXIT_FAILED);
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** node:util parseArgs in strict mode; its errors ("Unknown option '--x'") become UsageErrors. */
export function parseStrict(
  argv: string[],
  options: NonNullable<ParseArgsConfig['options']>,
  allowPositionals = false,
): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({ args: argv, options, strict: true, allowPositionals });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    // Some of node's messages run over several lines; one line reads better in a log.
    throw new UsageError((e as Error).message.replace(/\s*\n\s*/g, ' '));
  }
}

/** A number option: `undefined` gives the fallback, anything not passing `check` names the rule. */
export function numberOption(
  name: string,
  raw: string | undefined,
  fallback: number,
  check: (n: number) => boolean,
  rule: string,
): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || !check(n))
    throw new UsageError(`--${name} must be ${rule} (got "${raw}")`);
  return n;
}

const BROKER_PROTOCOLS = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'];

/** Checks the shape of a broker URL, naming the option that carried it. */
export function brokerUrlOption(raw: string, option = 'mqtt-url'): string {
  let protocol: string;
  try {
    protocol = new URL(raw).protocol;
  } catch {
    throw new UsageError(`--${option} must be a URL like mqtt://host:1883 (got "${raw}")`);
  }
  if (!BROKER_PROTOCOLS.includes(protocol))
    throw new UsageError(
      `--${option} must start with mqtt://, mqtts://, tcp://, ws:// or wss:// (got "${raw}")`,
    );
  return raw;
}

const DEFAULT_PORT: Record<string, number> = {
  'mqtt:': 1883,
  'tcp:': 1883,
  'mqtts:': 8883,
  'ssl:': 8883,
  'ws:': 80,
  'wss:': 443,
};

/**
 * A plain TCP knock on the broker's host and port: a wrong host or port is reported in seconds
 * with the reason (ECONNREFUSED, ENOTFOUND, no answer) rather than by silent reconnects.
 */
export async function brokerUnreachable(url: string, timeoutMs = 5000): Promise<string | null> {
  const u = new URL(url);
  const port = Number(u.port || DEFAULT_PORT[u.protocol] || 1883);
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: u.hostname, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no answer within ${Math.round(timeoutMs / 1000)} s`);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** Throws with a message naming the URL when the broker cannot be reached. */
export async function assertBrokerReachable(url: string): Promise<void> {
  const problem = await brokerUnreachable(url);
  if (problem) throw new Error(`cannot reach the broker at ${url}: ${problem}`);
}

/**
 * Connects once, without retrying: a refused login or a port that does not speak MQTT fails within
 * `connectTimeout` with the URL in the message. Callers that must survive broker restarts later pass
 * their own `reconnectPeriod`; it only applies after this first connection succeeded.
 */
export async function connectOnce(url: string, options: IClientOptions): Promise<MqttClient> {
  await assertBrokerReachable(url);
  const reconnectPeriod = options.reconnectPeriod;
  try {
    const client = await mqtt.connectAsync(
      url,
      { connectTimeout: 5000, ...options, reconnectPeriod: 0 },
      false,
    );
    // mqtt.js reads the option on every reconnect, so restoring it re-enables reconnects from here on.
    client.options.reconnectPeriod = reconnectPeriod ?? 0;
    return client;
  } catch (e) {
    throw new Error(`cannot connect to the broker at ${url}: ${(e as Error).message}`);
  }
}

export interface Progress {
  update(value: number, payload?: Record<string, string | number>): void;
  setTotal(total: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update() {}, setTotal() {}, stop() {} };

/**
 * A cli-progress bar on stderr (stdout stays for the summary). Drawn only on a terminal and when
 * not `quiet`: redirected to a file or a CI log, nothing is written until the summary.
 */
export function startProgress(options: {
  format: string;
  total: number;
  quiet?: boolean;
  payload?: Record<string, string | number>;
  stream?: NodeJS.WriteStream;
}): Progress {
  const stream = options.stream ?? process.stderr;
  if (options.quiet || stream.isTTY !== true) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      format: options.format,
      stream,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      fps: 5,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(options.total, 0, options.payload ?? {});
  return {
    update: (value, payload) => bar.update(value, payload ?? {}),
    setTotal: (total) => bar.setTotal(total),
    stop: () => bar.stop(),
  };
}

export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
