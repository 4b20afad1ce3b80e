/**
 * docker-compose.yml as compose reads it: YAML with anchors and merge keys, the interpolation of
 * `${VAR…}` from a deployment's environment (deploy/.env), each service's environment, and a
 * deployment environment made the way deploy/.env.example tells an operator to fill it in. The
 * local cluster (deploy/cluster/start.ts) derives its processes from it; test/unit/compose.test.ts
 * checks the file with it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const root = fileURLToPath(new URL('../../', import.meta.url));
export const read = (path: string) => readFileSync(join(root, path), 'utf8');

/**
 * What a required `${VAR:?…}` stands for when the environment leaves it empty: a value every kind
 * of secret accepts — URL-safe (passwords in a postgres:// URL), 44 characters (JWT_SECRET wants
 * 32 at least), and the base64 of 32 bytes (an encryption key).
 */
export const PLACEHOLDER = 'cGxhY2Vob2xkZXItcGxhY2Vob2xkZXItcGxhY2Vob2w=';

/**
 * Compose interpolation: `$$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `$VAR`,
 * with values from `env`; a required variable that `env` leaves empty becomes PLACEHOLDER.
 */
export function interpolate(raw: string, used: Set<string>, env: Record<string, string> = {}): string {
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const c = raw[i];
    if (c !== '$') {
      out += c;
      i += 1;
    } else if (raw[i + 1] === '$') {
      out += '$';
      i += 2;
    } else if (raw[i + 1] === '{') {
      const end = raw.indexOf('}', i);
      const expr = raw.slice(i + 2, end);
      const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$/s.exec(expr);
      if (end < 0 || !m || expr.includes('${')) throw new Error(`interpolation compose would reject: ${raw}`);
      const [, name, op, arg = ''] = m as unknown as [string, string, string | undefined, string | undefined];
      used.add(name);
      const value = env[name];
      const set = value !== undefined && (value !== '' || op === undefined || !op.startsWith(':'));
      if (op === ':+' || op === '+') out += set ? arg : '';
      else if (set) out += value;
      else out += op === ':-' || op === '-' ? arg : PLACEHOLDER;
      i = end + 1;
    } else {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(raw.slice(i));
      if (!m) throw new Error(`lone $ in ${raw} (write $$ for a literal $)`);
      used.add(m[1] as string);
      out += env[m[1] as string] ?? PLACEHOLDER;
      i += m[0].length;
    }
  }
  return out;
}

export function interpolateAll(value: unknown, used: Set<string>, env: Record<string, string> = {}): unknown {
  if (typeof value === 'string') return interpolate(value, used, env);
  if (Array.isArray(value)) return value.map((v) => interpolateAll(v, used, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, used, env)]));
  }
  return value;
}

export interface Service {
  image?: string;
  restart?: string;
  build?: { context: string; dockerfile?: string } | string;
  entrypoint?: string[] | string;
  command?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  ports?: (string | { target: number; published?: string | number })[];
  volumes?: (string | { type: string; source: string; target: string })[];
  depends_on?: Record<string, { condition?: string }> | string[];
  deploy?: { replicas?: number };
  healthcheck?: { test?: string[] | string; disable?: boolean };
  stop_grace_period?: string;
}
export interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** docker-compose.yml as written; `<<` merge keys resolved as compose resolves them. */
export const rawCompose = () => parse(read('docker-compose.yml'), { merge: true }) as Compose;

/** docker-compose.yml interpolated with `env` (a deployment's deploy/.env). */
export function composeWith(env: Record<string, string>, used = new Set<string>()): Compose {
  return interpolateAll(rawCompose(), used, env) as Compose;
}

export function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  }
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** The services built from this repository (the platform's roles), not the images of others. */
export const appServices = (compose: Compose) =>
  Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

/** deploy/.env.example's variables with their example values. */
export function envExample(): Record<string, string> {
  return Object.fromEntries(
    [...read('deploy/.env.example').matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)].map((m) => [
      m[1] as string,
      m[2] as string,
    ]),
  );
}

/**
 * A deployment's deploy/.env as an operator fills it in from deploy/.env.example: the examples
 * kept, each REQUIRED (empty) secret generated as the file says — `openssl rand -base64 32` for the
 * keys that say so, `openssl rand -hex 24` for the rest — and `overrides` on top.
 */
export function deploymentEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const example = read('deploy/.env.example');
  const env = envExample();
  for (const [name, value] of Object.entries(env)) {
    if (value !== '') continue;
    const doc = new RegExp(`((?:^#.*\\n)+)${name}=$`, 'm').exec(example)?.[1] ?? '';
    if (!doc.includes('REQUIRED')) continue;
    env[name] = doc.includes('openssl rand -base64 32')
      ? randomBytes(32).toString('base64')
      : randomBytes(24).toString('hex');
  }
  return { ...env, ...overrides };
}

/** The Dockerfile's runtime stage: its ENV, CMD and the path its HEALTHCHECK asks, what every app container starts with. */
export function dockerfileRuntime(): { env: Record<string, string>; cmd: string[]; healthPath: string } {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim());
  const stage = lines.slice(lines.map((l) => l.startsWith('FROM ')).lastIndexOf(true));
  const env: Record<string, string> = {};
  for (const line of stage.filter((l) => l.startsWith('ENV '))) {
    for (const m of line.slice(4).matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S+)/g))
      env[m[1] as string] = m[2] as string;
  }
  const cmd = JSON.parse(
    stage
      .filter((l) => l.startsWith('CMD '))
      .at(-1)
      ?.slice(4) ?? '[]',
  ) as string[];
  const healthcheck = stage.filter((l) => l.startsWith('HEALTHCHECK ')).at(-1) ?? '';
  const healthPath = /'(\/[^']*)'/.exec(healthcheck)?.[1];
  if (!healthPath) throw new Error('the Dockerfile has no HEALTHCHECK with a path');
  return { env, cmd, healthPath };
}
