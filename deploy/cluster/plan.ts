/**
 * docker-compose.yml's services as local processes: what `npm run cluster` runs, derived from the
 * compose file (interpolated with a deploy/.env), the Dockerfile's ENV, CMD and HEALTHCHECK, and the
 * files the services mount. Pure: nothing starts here (start.ts does), so a test can hold the plan
 * against the compose file.
 *
 * Only what a container network provides is mapped:
 * - the services this machine's own servers stand in for (`db`, `mosquitto`, `redis`): a URL whose
 *   host is one of them becomes the URL given for it;
 * - the other containers' names (`api-1:8080`): 127.0.0.1 and the local port of that process;
 * - listening on every interface of a container (`0.0.0.0`, `:8080`, PORT): loopback and a port of
 *   the process's own, since all processes share one network namespace here;
 * - paths in a container: a named volume is a folder under the work folder that every process
 *   mounting it shares, a bind mount is the repository file it names, anything else a folder of
 *   the process's own;
 * - INGEST_CLIENT_ID: a container's session name on its own broker; on a broker that other
 *   clusters and test runs share, suffixed with the cluster's id.
 */
import { dirname, join, resolve } from 'node:path';
import { type Compose, environment, root, type Service } from './compose.ts';

export type Role = 'api' | 'ingest' | 'lb';

/** The compose services that servers of this machine stand in for, by service (= host) name. */
export interface StandIns {
  /** For `db`. */
  databaseUrl: string;
  /** For `mosquitto`. */
  mqttUrl: string;
  /** For `redis`. */
  redisUrl: string;
}
const STAND_INS: Record<string, keyof StandIns> = {
  db: 'databaseUrl',
  mosquitto: 'mqttUrl',
  redis: 'redisUrl',
};

/** What the image built from the Dockerfile runs (its runtime stage). */
export interface ImageRuntime {
  env: Record<string, string>;
  cmd: string[];
  /** The path its HEALTHCHECK asks. */
  healthPath: string;
}

/** One container of the compose file, as a local process. */
export interface ProcessSpec {
  /** The service, or `<service>-<n>` for a service with replicas. */
  name: string;
  service: string;
  role: Role;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** The local port it listens on. */
  port: number;
  /** The port it listens on in its container (what other containers address it by). */
  containerPort: number;
  healthPath: string;
  /** compose's restart policy: `always`/`unless-stopped` restart on any exit, `on-failure` on a failure. */
  restart: 'no' | 'always' | 'on-failure';
  stopGraceMs: number;
  /** Folders to create before it starts (its volumes, DATA_DIR). */
  dirs: string[];
}

export interface PlanInput {
  /** docker-compose.yml, interpolated with the deployment's environment. */
  compose: Compose;
  image: ImageRuntime;
  standIns: StandIns;
  /** The local port of each process, by name (processNames gives the names). */
  ports: Record<string, number>;
  /** Where volumes and container file systems go. */
  workDir: string;
  /** Tells this cluster's broker sessions from others' on a shared broker. */
  clusterId: string;
  /** The local programs for the images' commands (`node`, `haproxy`). */
  binaries: { node: string; haproxy: string };
  /** Without a load balancer (no haproxy here): the lb service is left out. */
  loadBalancer: boolean;
  /** PATH of every process. */
  path: string;
}

interface Instance {
  name: string;
  service: string;
  kind: 'app' | 'lb';
}

/** The containers compose would run, other than the services stood in for; throws for one it cannot run. */
export function instances(compose: Compose): Instance[] {
  const out: Instance[] = [];
  for (const [service, s] of Object.entries(compose.services)) {
    if (service in STAND_INS) continue;
    if (s.build !== undefined) {
      const replicas = s.deploy?.replicas ?? 1;
      for (let n = 1; n <= replicas; n++)
        out.push({ name: replicas > 1 ? `${service}-${n}` : service, service, kind: 'app' });
    } else if (s.image?.startsWith('haproxy:')) {
      out.push({ name: service, service, kind: 'lb' });
    } else {
      throw new Error(
        `docker-compose.yml's service ${service} (${s.image}) has no local counterpart: map it in deploy/cluster/plan.ts`,
      );
    }
  }
  return out;
}

/** The names of the processes the plan will have, to give each a port. */
export const processNames = (compose: Compose, loadBalancer = true) =>
  instances(compose)
    .filter((i) => loadBalancer || i.kind !== 'lb')
    .map((i) => i.name);

export function planCluster(input: PlanInput): ProcessSpec[] {
  const all = instances(input.compose);
  const containerPorts = new Map(all.map((i) => [i.name, containerPortOf(input, i)]));
  return all
    .filter((i) => input.loadBalancer || i.kind !== 'lb')
    .map((i) =>
      i.kind === 'app' ? appProcess(input, i, containerPorts) : lbProcess(input, i, containerPorts),
    );
}

function serviceOf(input: PlanInput, i: Instance): Service {
  return input.compose.services[i.service] as Service;
}

/** The image's ENV with the service's environment on top: what the container's process sees. */
function containerEnv(input: PlanInput, i: Instance): Record<string, string> {
  const own = environment(serviceOf(input, i));
  return i.kind === 'app' ? { ...input.image.env, ...own } : own;
}

function containerPortOf(input: PlanInput, i: Instance): number {
  if (i.kind === 'app') return Number(containerEnv(input, i).PORT);
  const published = (serviceOf(input, i).ports ?? []).map((p) =>
    typeof p === 'string' ? Number(p.split(':').at(-1)?.split('/')[0]) : p.target,
  );
  if (published.length !== 1) throw new Error(`${i.name}: expected one published port`);
  return published[0] as number;
}

function localPort(input: PlanInput, name: string): number {
  const port = input.ports[name];
  if (port === undefined) throw new Error(`no local port for ${name}`);
  return port;
}

function appProcess(input: PlanInput, i: Instance, containerPorts: Map<string, number>): ProcessSpec {
  const service = serviceOf(input, i);
  const env = containerEnv(input, i);
  const role = env.ROLES;
  if (role !== 'api' && role !== 'ingest')
    throw new Error(`${i.name}: ROLES=${role}; the cluster runs one role per process (api or ingest)`);
  const mapped = mapEnvironment(input, i, env, containerPorts);
  if (role === 'ingest') {
    // No INGEST_CLIENT_ID: the app names its session after the container's host name.
    mapped.env.INGEST_CLIENT_ID = `${env.INGEST_CLIENT_ID ?? `ingest-${i.name}`}-${input.clusterId}`;
  }
  const [command = 'node', ...args] = input.image.cmd;
  return {
    name: i.name,
    service: i.service,
    role,
    command: command === 'node' ? input.binaries.node : command,
    args,
    cwd: root,
    env: { PATH: input.path, ...mapped.env },
    port: localPort(input, i.name),
    containerPort: containerPorts.get(i.name) as number,
    healthPath: input.image.healthPath,
    restart: restartPolicy(service),
    stopGraceMs: duration(service.stop_grace_period),
    dirs: mapped.dirs,
  };
}

function lbProcess(input: PlanInput, i: Instance, containerPorts: Map<string, number>): ProcessSpec {
  const service = serviceOf(input, i);
  const command = service.command;
  if (!Array.isArray(command) || command[0] !== 'haproxy')
    throw new Error(`${i.name}: expected command ["haproxy", …] in docker-compose.yml`);
  const mapped = mapEnvironment(input, i, containerEnv(input, i), containerPorts);
  const test = [service.healthcheck?.test ?? []].flat().join(' ');
  const healthPath = /GET (\/\S*)/.exec(test)?.[1];
  if (!healthPath) throw new Error(`${i.name}: no HTTP path in its health check`);
  return {
    name: i.name,
    service: i.service,
    role: 'lb',
    command: input.binaries.haproxy,
    // -db: in the foreground, as the image's entrypoint runs it; files it names from its mounts.
    args: ['-db', ...command.slice(1).map((a) => (a.startsWith('/') ? containerPath(input, i, a) : a))],
    cwd: root,
    env: { PATH: input.path, ...mapped.env },
    port: localPort(input, i.name),
    containerPort: containerPorts.get(i.name) as number,
    healthPath,
    restart: restartPolicy(service),
    stopGraceMs: duration(service.stop_grace_period),
    dirs: mapped.dirs,
  };
}

/** A container's environment with what the container network provides replaced by local equivalents. */
function mapEnvironment(
  input: PlanInput,
  i: Instance,
  env: Record<string, string>,
  containerPorts: Map<string, number>,
): { env: Record<string, string>; dirs: string[] } {
  const own = { port: localPort(input, i.name), containerPort: containerPorts.get(i.name) as number };
  const dirs: string[] = [];
  const address = (name: string, port: string, value: string) => {
    if (Number(port) !== containerPorts.get(name))
      throw new Error(`${i.name}: ${value} is not the port ${name} listens on`);
    return `127.0.0.1:${localPort(input, name)}`;
  };
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    let local = value;
    const bind = /^(?:0\.0\.0\.0)?:(\d+)$/.exec(value);
    const hostPort = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(\d+)$/.exec(value);
    if (key === 'PORT') {
      if (Number(value) !== own.containerPort) throw new Error(`${i.name}: PORT ${value} is not its port`);
      local = String(own.port);
    } else if (value === '0.0.0.0') {
      local = '127.0.0.1';
    } else if (bind) {
      local = address(i.name, bind[1] as string, value);
    } else if (hostPort && containerPorts.has(hostPort[1] as string)) {
      local = address(hostPort[1] as string, hostPort[2] as string, value);
    } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
      local = mapUrl(input, i, value);
    } else if (value.startsWith('/')) {
      local = containerPath(input, i, value);
      dirs.push(key.endsWith('_DIR') ? local : dirname(local));
    }
    out[key] = local;
  }
  return { env: out, dirs };
}

function mapUrl(input: PlanInput, i: Instance, value: string): string {
  const url = new URL(value);
  const standIn = STAND_INS[url.hostname];
  if (standIn) return input.standIns[standIn];
  if (input.compose.services[url.hostname])
    throw new Error(
      `${i.name}: ${url.protocol}//${url.host} names a container; map it in deploy/cluster/plan.ts`,
    );
  return value;
}

/** A path inside a container, on this machine (see the file's comment). */
function containerPath(input: PlanInput, i: Instance, path: string): string {
  const mounts = (serviceOf(input, i).volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source, target: v.target, bind: v.type === 'bind' };
    const [source = '', target = ''] = v.split(':');
    return { source, target, bind: /^[./~]/.test(source) };
  });
  const mount = mounts
    .filter((m) => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];
  if (!mount) return join(input.workDir, 'containers', i.name, path);
  const rest = path.slice(mount.target.length);
  return mount.bind
    ? resolve(root, mount.source) + rest
    : join(input.workDir, 'volumes', mount.source) + rest;
}

function restartPolicy(service: Service): ProcessSpec['restart'] {
  const policy = service.restart ?? 'no';
  if (policy === 'always' || policy === 'unless-stopped') return 'always';
  return policy.startsWith('on-failure') ? 'on-failure' : 'no';
}

/** compose's duration (`30s`, `1m30s`, `500ms`) in ms; compose's default stop grace is 10 s. */
export function duration(text: string | undefined, fallbackMs = 10_000): number {
  if (!text) return fallbackMs;
  const units: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us)/g))
    ms += Number(n) * (units[unit as string] ?? 0);
  return ms;
}
