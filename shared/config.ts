/**
 * Configuration from environment variables, validated once at start. Pure: the caller passes the
 * environment in and decides what to do with the problems (print them and exit, in main.ts).
 */
import { z } from 'zod';
import { parseKek } from './key-wrap.ts';
import { PROFILES } from './policy.ts';
import { DEVICE_ID_PREFIX } from './protocol.ts';

/** The roles a process can host (ROLES=…); not the users' roles, which are shared/roles.ts's. */
export const PROCESS_ROLES = ['ingest', 'api', 'sim'] as const;
export type ProcessRole = (typeof PROCESS_ROLES)[number];

/** Reports per ingest transaction at most, unless INGEST_MAX_BATCH says otherwise. */
export const DEFAULT_MAX_BATCH = 2000;

/**
 * The platform's time zone: the local day of telemetry_daily (db/migrations/004 buckets days in it)
 * and of a machine's history, and the default of a contract that names none. A contract's and a
 * dealer's own time zone come from their data.
 */
export const PLATFORM_TIME_ZONE = 'Asia/Shanghai';

const port = (name: string, fallback: number) =>
  z.coerce
    .number({ error: `${name} must be a port number` })
    .int(`${name} must be a whole number`)
    .min(0, `${name} must be 0-65535`)
    .max(65535, `${name} must be 0-65535`)
    .default(fallback);

const url = (name: string, protocols: string[]) =>
  z
    .string()
    .trim()
    .min(1)
    .refine(
      (s) => {
        try {
          return protocols.includes(new URL(s).protocol);
        } catch {
          return false;
        }
      },
      `${name} must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
    )
    .optional();

const kek = (name: string) =>
  z
    .string()
    .trim()
    .refine(
      (s) => parseKek(s) !== null,
      `${name} must be 32 bytes as base64 or 64 hex digits (openssl rand -base64 32)`,
    )
    .optional();
/** A request budget, `<requests>/<window>` (30/1m), or 0 for none: api/http/rate-limits.ts. */
const budget = (name: string, fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s, ctx) => {
      if (s.trim() === '0') return { max: 0, windowSeconds: 60 };
      const m = /^(\d+)\s*\/\s*(\S+)$/.exec(s.trim());
      const windowSeconds = m ? parseDuration(m[2]!) : null;
      if (!m || windowSeconds === null || windowSeconds < 1 || windowSeconds > 86_400 || Number(m[1]) < 1) {
        ctx.addIssue({
          code: 'custom',
          message: `${name} must be <requests>/<window> like ${fallback} (window 1s to 24h), or 0 for no limit`,
        });
        return z.NEVER;
      }
      return { max: Number(m[1]), windowSeconds };
    });

/** A duration as seconds, or with a unit: 90s, 30m, 12h, 7d. */
export function parseDuration(s: string): number | null {
  const m = /^(\d+)\s*(s|m|h|d)?$/.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

// An IPv4 or IPv6 address; a host name is refused, since `localhost` may resolve to ::1 alone and
// leave the platform's own clients, which connect to 127.0.0.1, outside.
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const isIpAddress = (s: string) => IPV4.test(s) || (/^[0-9a-fA-F:.]+$/.test(s) && s.includes(':'));

const ConfigFields = z.object({
  PORT: port('PORT', 8080),
  /**
   * The address the HTTP server and the embedded broker listen on. Loopback unless set, so a
   * platform started with nothing configured is reachable from this machine only; 0.0.0.0 (every
   * interface) opens it, as a container needs (docker-compose.yml sets it).
   */
  HOST: z
    .string()
    .trim()
    .refine(
      isIpAddress,
      'HOST must be an IP address to listen on: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)',
    )
    .default('127.0.0.1'),
  /**
   * 1 accepts the embedded platform's demo sign-ins (password "demo") on a HOST open to the
   * network; without it such a start is refused (configProblems).
   */
  DEMO_PASSWORDS: z
    .enum(['0', '1'], { error: 'DEMO_PASSWORDS must be 1 (accept the demo sign-ins on an open HOST) or 0' })
    .default('0')
    .transform((v) => v === '1'),
  MQTT_URL: url('MQTT_URL', ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']),
  MQTT_PORT: port('MQTT_PORT', 1883),
  /** The service account ingest and the api log in with on an external broker (svc-ingest, svc-api). */
  MQTT_USERNAME: z.string().min(1).optional(),
  MQTT_PASSWORD: z.string().min(1).optional(),
  /**
   * Where this process keeps the registry's enabled devices as a Mosquitto password file, rewritten
   * at start and after every provisioning or disabling (deploy/mosquitto/entrypoint.sh merges it
   * with the service accounts and reloads the broker). Unset: no file.
   */
  MOSQUITTO_PASSWORD_FILE: z
    .string()
    .trim()
    .min(1)
    .refine(
      (p) => !p.endsWith('/') && !/[\r\n]/.test(p),
      'MOSQUITTO_PASSWORD_FILE must be the path of a file, e.g. /app/broker/devices.passwd',
    )
    .optional(),
  DATABASE_URL: url('DATABASE_URL', ['postgres:', 'postgresql:']),
  /**
   * Redis, for what several api nodes must share: the live map's socket.io adapter (a browser on
   * one node sees what another node's rooms are sent) and the request rate limits' counts. Unset:
   * one api node keeps both in memory (embedded, or a single node).
   */
  REDIS_URL: url('REDIS_URL', ['redis:', 'rediss:']),
  /**
   * Starts every Redis key and stream this deployment uses, so several deployments (or test runs)
   * can share one Redis without seeing each other's live updates or counts.
   */
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'REDIS_KEY_PREFIX: 1-64 of A-Z a-z 0-9 _ . : -')
    .default('telematics'),
  DATA_DIR: z.string().trim().min(1, 'DATA_DIR must not be empty').default('./data'),
  SIM_DEVICES: z.coerce
    .number({ error: 'SIM_DEVICES must be a number' })
    .int('SIM_DEVICES must be a whole number')
    .min(0, 'SIM_DEVICES must be 0 or more')
    .max(100_000, 'SIM_DEVICES must be at most 100000')
    .default(200),
  SIM_SEED: z.coerce.number({ error: 'SIM_SEED must be a number' }).int().default(42),
  /**
   * The secret the simulated boxes' tokens are derived from (with each device id). Unset: a random
   * one made on first start and kept in DATA_DIR, so nobody can compute a box's token from the
   * seed. Set it only where the same tokens are needed elsewhere (tests, a second simulator).
   */
  SIM_TOKEN_KEY: z
    .string()
    .min(16, 'SIM_TOKEN_KEY must be at least 16 characters (e.g. openssl rand -hex 16)')
    .optional(),
  SIM_ID_PREFIX: z
    .string()
    .regex(
      DEVICE_ID_PREFIX,
      'SIM_ID_PREFIX must be 1-40 of A-Z a-z 0-9 _ . -, starting alphanumeric (e.g. SIM)',
    )
    .default('SIM'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
  ROLES: z
    .string()
    .default(PROCESS_ROLES.join(','))
    .transform((s, ctx) => {
      const roles = s
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean);
      const bad = roles.filter((r) => !(PROCESS_ROLES as readonly string[]).includes(r));
      if (bad.length > 0 || roles.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `ROLES must be a comma list of ${PROCESS_ROLES.join(', ')}`,
        });
        return z.NEVER;
      }
      return [...new Set(roles)] as ProcessRole[];
    }),
  /** Fixed per ingest worker so its persistent broker session survives restarts; default ingest-<host>. */
  INGEST_CLIENT_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'INGEST_CLIENT_ID: 1-64 of A-Z a-z 0-9 _ . -')
    .optional(),
  /**
   * The shared-subscription group ingest workers join on an external broker ($share/<group>/…):
   * workers in one group split the traffic, each group gets all of it. One topic level.
   */
  INGEST_SHARE_GROUP: z
    .string()
    .regex(
      /^[^/+#\s\p{Cc}]{1,64}$/u,
      'INGEST_SHARE_GROUP must be one MQTT topic level: 1-64 characters, no / + # or spaces',
    )
    .default('ingest'),
  MAP_STYLE_URL: url('MAP_STYLE_URL', ['http:', 'https:']),
  /** The remote-disable rules in force (shared/policy.ts PROFILES; see docs/commands.md). */
  POLICY_PROFILE: z
    .enum(Object.keys(PROFILES) as [string, ...string[]], {
      error: `POLICY_PROFILE must be one of ${Object.keys(PROFILES).join(', ')}`,
    })
    .default('default'),
  /** How long a command stays valid, overriding the profile's (seconds; e.g. for a slow network). */
  COMMAND_TTL_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 86_400)
    .optional(),
  /**
   * Wraps the secrets kept in the database (device command keys, the device token pepper) with
   * AES-256-GCM: 32 bytes as base64 or 64 hex digits (openssl rand -base64 32). Required for the api
   * when DATABASE_URL is set; embedded, one is generated and kept under DATA_DIR.
   */
  KEY_ENCRYPTION_KEY: kek('KEY_ENCRYPTION_KEY'),
  /** During a rotation: the key secrets were wrapped under before, still accepted until re-wrapped. */
  KEY_ENCRYPTION_KEY_PREVIOUS: kek('KEY_ENCRYPTION_KEY_PREVIOUS'),
  /**
   * Signs the users' bearer tokens (HS256). Required for the api when DATABASE_URL is set (every
   * api node must share it); embedded, one is generated and kept under DATA_DIR.
   */
  JWT_SECRET: z
    .string()
    .min(32, 'JWT_SECRET must be at least 32 characters (e.g. openssl rand -base64 32)')
    .optional(),
  /** How long a sign-in lasts, in seconds unless a unit is given (s, m, h, d). */
  JWT_TTL: z
    .string()
    .default('12h')
    .transform((s, ctx) => {
      const seconds = parseDuration(s);
      if (seconds === null || seconds < 60 || seconds > 30 * 86_400) {
        ctx.addIssue({ code: 'custom', message: 'JWT_TTL must be a duration from 60s to 30d, e.g. 12h' });
        return z.NEVER;
      }
      return seconds;
    }),
  /**
   * Sign-in throttling (api/auth/throttle.ts): failed sign-ins for one user name, and from one
   * client address, within LOGIN_FAILURE_WINDOW, after which attempts get 429 until the oldest
   * leaves the window. 0 switches a limit off.
   */
  LOGIN_MAX_FAILURES: z.coerce
    .number({ error: 'LOGIN_MAX_FAILURES must be a number' })
    .int('LOGIN_MAX_FAILURES must be a whole number')
    .min(0, 'LOGIN_MAX_FAILURES must be 0 (no limit) or more')
    .max(1000, 'LOGIN_MAX_FAILURES must be at most 1000')
    .default(5),
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce
    .number({ error: 'LOGIN_MAX_FAILURES_PER_ADDRESS must be a number' })
    .int('LOGIN_MAX_FAILURES_PER_ADDRESS must be a whole number')
    .min(0, 'LOGIN_MAX_FAILURES_PER_ADDRESS must be 0 (no limit) or more')
    .max(100_000, 'LOGIN_MAX_FAILURES_PER_ADDRESS must be at most 100000')
    .default(20),
  LOGIN_FAILURE_WINDOW: z
    .string()
    .default('15m')
    .transform((s, ctx) => {
      const seconds = parseDuration(s);
      if (seconds === null || seconds < 1 || seconds > 86_400) {
        ctx.addIssue({
          code: 'custom',
          message: 'LOGIN_FAILURE_WINDOW must be a duration from 1s to 24h, e.g. 15m',
        });
        return z.NEVER;
      }
      return seconds;
    }),
  /**
   * Reverse proxies in front of the api that append the caller to X-Forwarded-For, so sign-in
   * throttling counts per client and not per proxy. Only proxies you run: one hop too many lets a
   * client name its own address.
   */
  LOGIN_PROXY_HOPS: z.coerce
    .number({ error: 'LOGIN_PROXY_HOPS must be a number' })
    .int('LOGIN_PROXY_HOPS must be a whole number')
    .min(0, 'LOGIN_PROXY_HOPS must be 0-10')
    .max(10, 'LOGIN_PROXY_HOPS must be 0-10')
    .default(0),
  /** Requests per client address to POST /api/auth/login. */
  RATE_LIMIT_SIGN_IN: budget('RATE_LIMIT_SIGN_IN', '30/1m'),
  /** Contract and payment CSV imports per user. */
  RATE_LIMIT_IMPORTS: budget('RATE_LIMIT_IMPORTS', '10/1m'),
  /** Track queries and exports (GeoJSON, GPX, KML) and machine histories per user. */
  RATE_LIMIT_TRACKS: budget('RATE_LIMIT_TRACKS', '120/1m'),
  /**
   * The bearer token Prometheus sends to scrape /metrics. Without it the api serves /metrics only
   * on the embedded database; an ingest-only process's ops port serves it openly.
   */
  METRICS_TOKEN: z
    .string()
    .min(16, 'METRICS_TOKEN must be at least 16 characters (e.g. openssl rand -hex 16)')
    .optional(),
  /** The API description at /docs: on by default only on the embedded database. */
  API_DOCS: z.enum(['on', 'off'], { error: 'API_DOCS must be on or off' }).optional(),
  /** Telemetry further than this in the future (device clock ahead of ours) is rejected. */
  MAX_CLOCK_SKEW_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5 * 60_000),
  /**
   * Most reports one ingest transaction writes. Batches form from what arrived while the previous
   * one was written, so this only binds under load; the broker's in-flight window for the ingest
   * session (deploy/mosquitto max_inflight_messages, 10,000) is the most a worker is ever handed.
   */
  INGEST_MAX_BATCH: z.coerce
    .number({ error: 'INGEST_MAX_BATCH must be a number' })
    .int('INGEST_MAX_BATCH must be a whole number')
    .min(1, 'INGEST_MAX_BATCH must be from 1 to 10000')
    .max(10_000, 'INGEST_MAX_BATCH must be from 1 to 10000')
    .default(DEFAULT_MAX_BATCH),
  MAX_PAYLOAD_BYTES: z.coerce
    .number()
    .int()
    .min(256)
    .default(64 * 1024),
  /**
   * Days of raw telemetry kept on TimescaleDB (a retention job drops older day chunks); 0 keeps it
   * all. At least 60: the daily summaries are refreshed up to 30 days back and must never be
   * recomputed from dropped days. The default, three years, is the general limitation period for
   * civil claims in China (Civil Code art. 188): the trail may be evidence that long.
   */
  TELEMETRY_RETENTION_DAYS: z.coerce
    .number({ error: 'TELEMETRY_RETENTION_DAYS must be a number of days' })
    .int('TELEMETRY_RETENTION_DAYS must be a whole number of days')
    .refine(
      (n) => n === 0 || (n >= 60 && n <= 36_500),
      'TELEMETRY_RETENTION_DAYS must be 0 (keep forever) or 60-36500',
    )
    .default(1095),
  /** Days a dead letter (ingest_rejects) is kept; 0 keeps them all. */
  DEAD_LETTER_RETENTION_DAYS: z.coerce
    .number({ error: 'DEAD_LETTER_RETENTION_DAYS must be a number of days' })
    .int('DEAD_LETTER_RETENTION_DAYS must be a whole number of days')
    .min(0, 'DEAD_LETTER_RETENTION_DAYS must be 0 (keep forever) or 1-3650')
    .max(3650, 'DEAD_LETTER_RETENTION_DAYS must be 0 (keep forever) or 1-3650')
    .default(30),
});

// A user name without its password (or the reverse) is a half-configured service account: the broker
// would refuse the connection much later with a vaguer message.
const ConfigSchema = ConfigFields.superRefine((c, ctx) => {
  const [set, missing] = c.MQTT_USERNAME
    ? ['MQTT_USERNAME', 'MQTT_PASSWORD']
    : ['MQTT_PASSWORD', 'MQTT_USERNAME'];
  if ((c.MQTT_USERNAME === undefined) !== (c.MQTT_PASSWORD === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [set],
      message: `${set} is set but ${missing} is not: the broker service account needs both`,
    });
  }
});

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: string[] };

export function parseConfig(env: Record<string, string | undefined>): ConfigResult {
  // An empty variable means "not set", as in most shells' `FOO= cmd`.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const r = ConfigSchema.safeParse(cleaned);
  if (r.success) return { ok: true, config: r.data };
  return {
    ok: false,
    errors: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
  };
}

/**
 * Problems that only show once the environment and a caller's overrides are combined: the api of a
 * platform on a shared database needs the one JWT_SECRET and KEY_ENCRYPTION_KEY that all its nodes use.
 */
export function configProblems(c: Config): string[] {
  const problems: string[] = [];
  if (c.DATABASE_URL !== undefined && c.ROLES.includes('api') && c.JWT_SECRET === undefined) {
    problems.push(
      'JWT_SECRET: required when DATABASE_URL is set (the same value on every api node; e.g. openssl rand -base64 32)',
    );
  }
  if (demoSignInsOpen(c) && !c.DEMO_PASSWORDS) {
    problems.push(
      `HOST: ${c.HOST} opens the platform to the network, and the embedded database has the demo ` +
        'sign-ins (admin, risk1, risk2, … all with the password "demo"). Leave HOST unset (127.0.0.1), ' +
        'use PostgreSQL (DATABASE_URL) with users of your own, or set DEMO_PASSWORDS=1 to accept that ' +
        'anyone who reaches it can sign in as admin.',
    );
  }
  if (
    c.DATABASE_URL !== undefined &&
    // The api signs commands; the simulator provisions its boxes; the embedded broker checks tokens.
    (c.ROLES.includes('api') || c.ROLES.includes('sim') || c.MQTT_URL === undefined) &&
    c.KEY_ENCRYPTION_KEY === undefined
  ) {
    problems.push(
      'KEY_ENCRYPTION_KEY: required when DATABASE_URL is set (the same value on every api node; e.g. openssl rand -base64 32)',
    );
  }
  if (c.KEY_ENCRYPTION_KEY_PREVIOUS !== undefined && c.KEY_ENCRYPTION_KEY === undefined) {
    problems.push('KEY_ENCRYPTION_KEY_PREVIOUS: only with KEY_ENCRYPTION_KEY, the key that replaces it');
  }
  return problems;
}

/** 127.0.0.0/8 and ::1: reachable from this machine only. */
export const isLoopback = (host: string) =>
  /^127\./.test(host) || /^(0{0,4}:){7}0{0,3}1$|^::1$/.test(host) || host === '::ffff:127.0.0.1';

/** The demo sign-ins (embedded database, api) on an address others can reach. */
export const demoSignInsOpen = (c: Config) =>
  c.DATABASE_URL === undefined && c.ROLES.includes('api') && !isLoopback(c.HOST);

/** How this machine's own clients address a server listening on `host` (a URL's host part). */
export function connectHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export const isEmbeddedBroker = (c: Config) => c.MQTT_URL === undefined;
export const isEmbeddedDatabase = (c: Config) => c.DATABASE_URL === undefined;
/** /docs is served when API_DOCS says so, and by default only on the embedded database. */
export const servesApiDocs = (c: Config) => (c.API_DOCS ?? (isEmbeddedDatabase(c) ? 'on' : 'off')) === 'on';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

/** The environment with a caller's overrides on top, checked whole; throws ConfigError. */
export function loadConfig(env: Record<string, string | undefined>, overrides: Partial<Config> = {}): Config {
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new ConfigError(parsed.errors);
  const config: Config = { ...parsed.config, ...overrides };
  const problems = configProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
