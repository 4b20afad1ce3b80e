/**
 * The production deployment checked without a Docker engine: docker-compose.yml, the Dockerfile and
 * deploy/mosquitto/ against each other, against shared/config.ts (what the app accepts) and against
 * broker/access.ts (the embedded broker's rules, which the Mosquitto ACL must match for devices).
 * deploy/mosquitto/selftest.sh checks the same broker files against the real mosquitto binary.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mayPublish, maySubscribe, type Principal } from '../../broker/access.ts';
import { findHaproxy } from '../../deploy/cluster/start.ts';
import { loadConfig, parseConfig } from '../../shared/config.ts';
import { LIVE_POSITIONS_TOPIC } from '../../shared/live.ts';
import { topics } from '../../shared/protocol.ts';
import {
  appServices as appServicesOf,
  type Compose,
  composeWith,
  deploymentEnv,
  dockerfileRuntime,
  environment,
  PLACEHOLDER,
  read,
  rawCompose as readRawCompose,
  root,
  type Service,
} from '../support/compose.ts';

const rawCompose: Compose = readRawCompose();

// --- docker-compose.yml, interpolated as compose would with only the defaults and placeholders ---

const usedVariables = new Set<string>();
const compose = composeWith({}, usedVariables);
const services = compose.services;

interface Mount {
  kind: 'bind' | 'volume';
  source: string;
  target: string;
}
function mounts(service: Service): Mount[] {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string')
      return { kind: v.type === 'bind' ? 'bind' : 'volume', source: v.source, target: v.target };
    const [source = '', target = ''] = v.split(':');
    return { kind: /^[./~]/.test(source) ? 'bind' : 'volume', source, target };
  });
}
const mountAt = (service: Service, target: string) => mounts(service).find((m) => m.target === target);
/** The mount a container path lies in, the deepest first. */
const mountHolding = (service: Service, path: string) =>
  mounts(service)
    .filter((m) => path === m.target || path.startsWith(`${m.target.replace(/\/$/, '')}/`))
    .sort((a, b) => b.target.length - a.target.length)[0];

/** Container ports a service publishes. */
function publishedTargets(service: Service): number[] {
  return (service.ports ?? []).map((p) => {
    if (typeof p !== 'string') return p.target;
    const container = p.split(':').at(-1)?.split('/')[0];
    return Number(container);
  });
}

const appServices = appServicesOf(compose);
/** The app services running a role, by their ROLES. */
const named = (role: string) =>
  appServices.filter(([, service]) => environment(service).ROLES === role).map(([name]) => name);
const apiNodes = named('api');
const ingestWorkers = named('ingest');
const lb = services.lb as Service;

function configOf(name: string) {
  const r = parseConfig(environment(services[name] as Service));
  if (!r.ok) throw new Error(`${name}: ${r.errors.join('; ')}`);
  return r.config;
}

/** Whether shared/config.ts reads a variable: an unknown one is silently dropped by the schema. */
function configKnows(key: string): boolean {
  const r = parseConfig({ [key]: 'probe' });
  return r.ok ? key in r.config : r.errors.some((e) => e.startsWith(`${key}:`));
}

// --- deploy/mosquitto ---------------------------------------------------------------------------

function mosquittoConf(text: string): Map<string, string[]> {
  const conf = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [key = '', ...rest] = t.split(/\s+/);
    conf.set(key, [...(conf.get(key) ?? []), rest.join(' ')]);
  }
  return conf;
}

/**
 * The options written under each `listener <port>` line, up to the next one (where mosquitto 2.0
 * takes a listener's own options from); `0` holds those before the first listener.
 */
function listenerOptions(text: string): Map<number, Map<string, string>> {
  const listeners = new Map<number, Map<string, string>>([[0, new Map()]]);
  let current = listeners.get(0) as Map<string, string>;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [key = '', ...rest] = t.split(/\s+/);
    if (key === 'listener') {
      current = new Map();
      listeners.set(Number(rest[0]), current);
    } else current.set(key, rest.join(' '));
  }
  return listeners;
}

const mosquitto = services.mosquitto as Service;
const confMount = mountAt(mosquitto, '/mosquitto/config/mosquitto.conf');
const confText = confMount ? read(confMount.source) : '';
const conf = mosquittoConf(confText);
const confValue = (key: string) => conf.get(key)?.at(-1);
const listenerPorts = (conf.get('listener') ?? []).map((l) => Number(l.split(' ')[0]));
const listeners = [...listenerOptions(confText)].filter(([port]) => port !== 0);
/** Listeners that replace a client's client id with its user name: the devices'. */
const devicePorts = listeners
  .filter(([, o]) => o.get('use_username_as_clientid') === 'true')
  .map(([port]) => port);
/** Listeners that speak TLS (a certificate of their own). */
const tlsPorts = listeners.filter(([, o]) => o.has('certfile') && o.has('keyfile')).map(([port]) => port);
/** Listeners that keep the client ids clients send: the platform services'. */
const servicePorts = listenerPorts.filter((p) => !devicePorts.includes(p));

/** Mosquitto's topic filter match (+ one level, # the rest; `$` topics only match `$` filters). */
function topicMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') !== filter.startsWith('$')) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

type Access = 'read' | 'write';
/** The acl_file rules of mosquitto 2.0: the user's own `topic` lines, then every `pattern` (%u, %c). */
function aclAllows(acl: string, user: string, access: Access, topic: string): boolean {
  const own: [string, string][] = [];
  const patterns: [string, string][] = [];
  let current: string | null = null;
  for (const line of acl.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [kind, ...rest] = t.split(/\s+/);
    if (kind === 'user') current = rest.join(' ');
    else if (kind === 'topic' || kind === 'pattern') {
      const [mode, filter] =
        rest.length === 1 ? ['readwrite', rest[0] as string] : [rest[0] as string, rest[1] as string];
      if (kind === 'pattern') patterns.push([mode, filter.replaceAll('%u', user).replaceAll('%c', user)]);
      else if (current === user) own.push([mode, filter]);
    } else throw new Error(`acl line mosquitto rejects: ${t}`);
  }
  for (const [mode, filter] of [...own, ...patterns]) {
    if (!topicMatches(filter, topic)) continue;
    if (mode === 'deny') return false;
    if (mode === 'readwrite' || mode === access) return true;
  }
  return false;
}

describe('docker-compose.yml', () => {
  it('has the services of the production deployment: two api nodes behind a load balancer, two ingest workers', () => {
    expect(Object.keys(services).sort()).toEqual([
      'api-1',
      'api-2',
      'db',
      'ingest-1',
      'ingest-2',
      'lb',
      'mosquitto',
      'redis',
    ]);
    expect(services.db?.image).toMatch(/^timescale\/timescaledb-ha:pg\d+/);
    expect(services.mosquitto?.image).toMatch(/^eclipse-mosquitto:2/);
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(lb.image).toBe('haproxy:2.6');
    expect(apiNodes).toEqual(['api-1', 'api-2']);
    expect(ingestWorkers).toEqual(['ingest-1', 'ingest-2']);
    // Named services, not replicas: the load balancer addresses each api node, and each ingest
    // worker keeps a fixed broker session.
    for (const [name, service] of appServices) expect(service.deploy?.replicas ?? 1, name).toBe(1);
  });

  it('runs the api nodes, and the ingest workers, from one definition each', () => {
    // Two nodes of a role differ only in what must differ: the ingest workers' session names.
    const envOf = (name: string) => environment(services[name] as Service);
    const { INGEST_CLIENT_ID: first, ...ingest1 } = envOf('ingest-1');
    const { INGEST_CLIENT_ID: second, ...ingest2 } = envOf('ingest-2');
    expect(ingest2).toEqual(ingest1);
    expect(first).not.toBe(second);
    expect(envOf('api-2')).toEqual(envOf('api-1'));
    const { environment: _a, ...api1 } = services['api-1'] as Service;
    const { environment: _b, ...api2 } = services['api-2'] as Service;
    expect(api2).toEqual(api1);
  });

  it('has a health check for every service', () => {
    // Services built from the Dockerfile inherit its HEALTHCHECK unless they switch it off.
    const imageHealthCheck = /^HEALTHCHECK\s/m.test(read('Dockerfile'));
    for (const [name, service] of Object.entries(services)) {
      const own = service.healthcheck;
      expect(own?.disable, `${name}'s health check is on`).not.toBe(true);
      expect(own?.test !== undefined || (service.build !== undefined && imageHealthCheck), name).toBe(true);
    }
  });

  it('references only files that exist in the repository', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.build !== undefined) {
        const build = typeof service.build === 'string' ? { context: service.build } : service.build;
        expect(existsSync(join(root, build.context)), `${name}: build context ${build.context}`).toBe(true);
        const dockerfile = join(root, build.context, build.dockerfile ?? 'Dockerfile');
        expect(existsSync(dockerfile), `${name}: ${dockerfile}`).toBe(true);
      }
      for (const m of mounts(service)) {
        if (m.kind === 'bind') {
          expect(existsSync(join(root, m.source)), `${name}: mounted ${m.source}`).toBe(true);
        } else {
          expect(compose.volumes ?? {}, `${name}: volume ${m.source} is declared`).toHaveProperty(m.source);
        }
      }
      // Files the container is told to run must be mounted into it.
      const argv = [service.entrypoint ?? [], service.command ?? [], service.healthcheck?.test ?? []].flat();
      for (const arg of argv.filter((a) => a.startsWith('/mosquitto/'))) {
        const m = mountAt(service, arg);
        expect(m?.kind, `${name}: ${arg} is mounted from the repository`).toBe('bind');
        if (m) expect(statSync(join(root, m.source)).isFile()).toBe(true);
      }
    }
  });

  it("starts every service with a deployment's deploy/.env, filled in as deploy/.env.example says", () => {
    // parseConfig and the checks across variables (a secret required with DATABASE_URL, …): what
    // main.ts runs before anything starts. PLACEHOLDER would hide a required variable compose lacks.
    const deployed = composeWith(deploymentEnv());
    for (const [name, service] of appServicesOf(deployed)) {
      const env = environment(service);
      expect(Object.values(env), `${name}: every required variable filled in`).not.toContain(PLACEHOLDER);
      let problems: string[] = [];
      try {
        loadConfig(env);
      } catch (e) {
        problems = (e as { problems?: string[] }).problems ?? [String(e)];
      }
      expect(problems, `${name}'s environment as the app reads it at start`).toEqual([]);
    }
  });

  it('listens on every interface inside the containers, where only published ports reach in', () => {
    for (const [name] of appServices) expect(configOf(name).HOST, name).toBe('0.0.0.0');
  });

  it('sets only variables that shared/config.ts knows, with values it accepts', () => {
    expect(appServices.map(([name]) => name).sort()).toEqual(['api-1', 'api-2', 'ingest-1', 'ingest-2']);
    for (const [name, service] of appServices) {
      const env = environment(service);
      const unknown = Object.keys(env).filter((k) => !configKnows(k));
      expect(unknown, `${name} sets variables the app does not read`).toEqual([]);
      const r = parseConfig(env);
      expect(r.ok ? [] : r.errors, `${name}'s environment`).toEqual([]);
    }
  });

  it('runs each role on its own, on the real engines, without a simulated fleet', () => {
    for (const [name] of appServices) {
      const config = configOf(name);
      expect(config.ROLES).toEqual([name.replace(/-\d+$/, '')]);
      expect(config.SIM_DEVICES).toBe(0);

      const db = new URL(config.DATABASE_URL ?? 'missing:');
      expect(db.hostname, `${name}: DATABASE_URL points at the db service`).toBe('db');
      expect(db.port).toBe('5432');
      const pg = environment(services.db as Service);
      expect(decodeURIComponent(db.username)).toBe(pg.POSTGRES_USER);
      expect(decodeURIComponent(db.password)).toBe(pg.POSTGRES_PASSWORD);
      expect(db.pathname).toBe(`/${pg.POSTGRES_DB}`);

      const mqtt = new URL(config.MQTT_URL ?? 'missing:');
      expect(mqtt.hostname, `${name}: MQTT_URL points at the mosquitto service`).toBe('mosquitto');
      // The services' listener: on the devices' one every ingest replica would be client id
      // svc-ingest and take the others over.
      expect(servicePorts, `${name}: MQTT_URL is on the services' listener`).toContain(
        Number(mqtt.port || 1883),
      );
    }
  });

  it('gives each service account the password mosquitto is given for it', () => {
    const acl = read('deploy/mosquitto/acl');
    const entrypoint = read('deploy/mosquitto/entrypoint.sh');
    const brokerEnv = Object.keys(environment(mosquitto));
    for (const [name, service] of appServices) {
      const config = configOf(name);
      const user = config.MQTT_USERNAME ?? '';
      expect(acl, `${name}'s account ${user} has ACL rules`).toMatch(new RegExp(`^user ${user}$`, 'm'));
      const env = service.environment as Record<string, string>;
      const rawPassword = environment(rawCompose.services[name] ?? {}).MQTT_PASSWORD ?? '';
      const variable = /^\$\{([A-Za-z_][A-Za-z0-9_]*)/.exec(rawPassword)?.[1];
      expect(variable, `${name}: MQTT_PASSWORD comes from a variable`).toBeDefined();
      expect(env.MQTT_PASSWORD).toBe(PLACEHOLDER);
      expect(brokerEnv).toContain(variable);
      expect(entrypoint).toContain(`mosquitto_passwd -b "$services_file" ${user} "$${variable}"`);
    }
  });

  it("hands the registry's devices from the api to mosquitto on a shared volume", () => {
    // Every api node writes it: a provisioning or a disabling can come through any of them.
    for (const name of apiNodes) {
      const file = configOf(name).MOSQUITTO_PASSWORD_FILE ?? '';
      expect(file, `${name} keeps the device password file`).not.toBe('');
      const written = mountHolding(services[name] as Service, file);
      expect(written?.kind, `${file} is on a volume`).toBe('volume');
      const shared = mounts(mosquitto).find((m) => m.kind === 'volume' && m.source === written?.source);
      expect(shared, `mosquitto mounts ${written?.source}`).toBeDefined();
      const relative = posix.relative(written?.target ?? '', file);
      const devicesFile = /MOSQUITTO_DEVICES_FILE:-([^}]+)\}/.exec(
        read('deploy/mosquitto/entrypoint.sh'),
      )?.[1];
      expect(devicesFile, 'where entrypoint.sh reads the devices').toBe(
        posix.join(shared?.target ?? '', relative),
      );
    }
    // Only the api writes device credentials; ingest has no business with them.
    for (const name of ingestWorkers) expect(configOf(name).MOSQUITTO_PASSWORD_FILE).toBeUndefined();
  });

  it('publishes each port on the port its service listens on', () => {
    for (const [name, service] of appServices) {
      const listens = configOf(name).PORT;
      for (const target of publishedTargets(service))
        expect(target, `${name} listens on ${listens}`).toBe(listens);
    }
    // The api nodes are reached through the load balancer only, which listens where it publishes.
    for (const name of apiNodes) expect(publishedTargets(services[name] as Service), name).toEqual([]);
    expect(publishedTargets(lb)).toEqual([8080]);
    expect(environment(lb).LB_BIND).toBe(':8080');
    for (const target of publishedTargets(mosquitto)) expect(listenerPorts).toContain(target);
    expect(publishedTargets(mosquitto)).toEqual([8883]);
    // Only the devices' TLS listener reaches the host: device tokens never cross it in clear text;
    // the clear-text ones (devices' 1883, services' 1884) stay on the compose network.
    for (const target of publishedTargets(mosquitto)) {
      expect(devicePorts).toContain(target);
      expect(tlsPorts).toContain(target);
    }
    for (const port of servicePorts) expect(publishedTargets(mosquitto)).not.toContain(port);
    expect(publishedTargets(services.db as Service), 'the database stays on the compose network').toEqual([]);
    for (const [name, service] of Object.entries(services)) {
      if ((service.deploy?.replicas ?? 1) > 1) {
        expect(publishedTargets(service), `${name} has replicas, so no fixed host port`).toEqual([]);
      }
    }
  });

  it('runs two ingest workers in one share group, each with a session of its own', () => {
    expect(ingestWorkers).toHaveLength(2);
    const ids = ingestWorkers.map((name) => configOf(name).INGEST_CLIENT_ID);
    expect(new Set(ids).size, 'a fixed, distinct client id each').toBe(2);
    for (const id of ids) expect(id).toBeDefined();
    expect(new Set(ingestWorkers.map((name) => configOf(name).INGEST_SHARE_GROUP)).size).toBe(1);
  });

  it('gives the api nodes the Redis the redis service runs, with its password', () => {
    const redis = services.redis as Service;
    const command = [redis.command ?? []].flat();
    const password = command[command.indexOf('--requirepass') + 1];
    expect(password, 'redis requires a password').toBeDefined();
    expect(environment(redis).REDISCLI_AUTH, 'the health check logs in').toBe(password);
    for (const name of apiNodes) {
      const url = new URL(configOf(name).REDIS_URL ?? 'missing:');
      expect(url.hostname).toBe('redis');
      expect(url.port || '6379').toBe('6379');
      expect(decodeURIComponent(url.password)).toBe(password);
    }
    // Nothing of Redis is kept across a restart: no snapshots, no append-only file.
    expect(command.slice(command.indexOf('--save'), command.indexOf('--save') + 2)).toEqual(['--save', '']);
    expect(publishedTargets(redis), 'Redis stays on the compose network').toEqual([]);
  });

  it('counts the load balancer as a proxy hop of the sign-in limit', () => {
    // haproxy.cfg adds X-Forwarded-For (option forwardfor): with 0 hops every client's failures
    // would count as the load balancer's address.
    expect(read('deploy/haproxy/haproxy.cfg')).toMatch(/^\s*option forwardfor\b/m);
    for (const name of apiNodes) expect(configOf(name).LOGIN_PROXY_HOPS, name).toBeGreaterThanOrEqual(1);
    const deployed = composeWith(deploymentEnv());
    expect(Number(environment(deployed.services['api-1'] as Service).LOGIN_PROXY_HOPS)).toBe(1);
  });

  it('starts services after what they depend on is healthy', () => {
    for (const [name, service] of Object.entries(services)) {
      const deps = service.depends_on ?? {};
      const entries: [string, { condition?: string }][] = Array.isArray(deps)
        ? deps.map((d) => [d, {}])
        : Object.entries(deps);
      for (const [target, how] of entries) {
        expect(Object.keys(services), `${name} depends on ${target}`).toContain(target);
        if (how.condition === 'service_healthy') {
          const check = services[target]?.healthcheck;
          expect(
            check?.test && !check.disable,
            `${target} has a health check for ${name} to wait on`,
          ).toBeTruthy();
        }
      }
    }
    for (const name of [...apiNodes, ...ingestWorkers]) {
      expect(services[name]?.depends_on, name).toMatchObject({
        db: { condition: 'service_healthy' },
        mosquitto: { condition: 'service_healthy' },
      });
    }
    for (const name of apiNodes) {
      expect(services[name]?.depends_on, name).toMatchObject({ redis: { condition: 'service_healthy' } });
    }
  });

  it('documents every variable it reads in deploy/.env.example, and only those', () => {
    const documented = [...read('deploy/.env.example').matchAll(/^([A-Za-z_][A-Za-z0-9_]*)=/gm)].map(
      (m) => m[1],
    );
    expect([...usedVariables].sort()).toEqual([...documented].sort());
  });
});

describe('deploy/mosquitto', () => {
  it('is the config the mosquitto service mounts', () => {
    expect(confMount?.kind).toBe('bind');
    expect(confMount?.source).toBe('./deploy/mosquitto/mosquitto.conf');
    expect(read('deploy/mosquitto/entrypoint.sh')).toContain('/mosquitto/config/mosquitto.conf');
  });

  it('has a devices listener that makes the user name the client id, and a services listener that keeps it', () => {
    // A device logging in with another device's client id would otherwise knock that box offline.
    expect(devicePorts).toEqual([8883, 1883]);
    // The ingest replicas share one account, each with its own client id and persistent session.
    expect(servicePorts).toEqual([1884]);
    // Set before any listener, it would apply to the default listener; clientid_prefixes conflicts.
    expect(listenerOptions(confText).get(0)?.has('use_username_as_clientid')).toBe(false);
    expect(conf.has('clientid_prefixes')).toBe(false);
  });

  it('is checked by the health check on every listener, over TLS where the listener speaks it', () => {
    const check = read('deploy/mosquitto/healthcheck.sh');
    const ports = (name: string) =>
      (new RegExp(`${name}:-([0-9 ]+)\\}`).exec(check)?.[1] ?? '').split(' ').map(Number).sort();
    expect(ports('MQTT_HEALTH_PORTS')).toEqual(listenerPorts.filter((p) => !tlsPorts.includes(p)).sort());
    expect(ports('MQTT_HEALTH_TLS_PORTS')).toEqual([...tlsPorts].sort());
  });

  it('has a TLS listener for devices whose certificate comes from the mounted folder', () => {
    expect(tlsPorts).toEqual([8883]);
    const entrypoint = read('deploy/mosquitto/entrypoint.sh');
    const certsDir = /MOSQUITTO_CERTS_DIR:-([^}]+)\}/.exec(entrypoint)?.[1] ?? '';
    expect(mountAt(mosquitto, certsDir)?.target, 'the certificate folder is mounted').toBe(certsDir);
    const tls = listenerOptions(confText).get(8883);
    // entrypoint.sh copies the pair next to the password file for the mosquitto user.
    const passwdDir = posix.dirname(confValue('password_file') ?? '');
    for (const [option, file] of [
      ['certfile', 'server.crt'],
      ['keyfile', 'server.key'],
    ] as const) {
      expect(tls?.get(option)).toBe(posix.join(passwdDir, 'tls', file));
      expect(entrypoint).toContain(`cp "$certs_dir/${file}" "$tls_dir/${file}"`);
    }
    expect(entrypoint).toContain('tls_dir="$auth_dir/tls"');
  });

  it('admits no anonymous clients', () => {
    expect(confValue('allow_anonymous')).toBe('false');
    // per_listener_settings would make allow_anonymous, password_file and acl_file per listener.
    expect(confValue('per_listener_settings') ?? 'false').toBe('false');
  });

  it('sets the queue and in-flight limits instead of the lossy defaults', () => {
    const queued = Number(confValue('max_queued_messages'));
    // Mosquitto's default 1000 drops QoS 1 telemetry for an ingest worker that falls behind.
    expect(queued === 0 ? Number(confValue('max_queued_bytes')) : queued).toBeGreaterThanOrEqual(100_000);
    expect(Number(confValue('max_queued_bytes'))).toBeGreaterThan(0);
    // Ingest acknowledges after commit: the in-flight window must hold a whole batch.
    const inflight = Number(confValue('max_inflight_messages'));
    expect(inflight === 0 || inflight >= 2000).toBe(true);
    expect(confValue('max_inflight_bytes')).toBeDefined();
    expect(confValue('persistent_client_expiration')).toMatch(/^\d+[hdwmy]$/);
  });

  it('accepts every payload ingest accepts', () => {
    expect(Number(confValue('message_size_limit'))).toBeGreaterThanOrEqual(
      Math.max(...ingestWorkers.map((name) => configOf(name).MAX_PAYLOAD_BYTES)),
    );
  });

  it('keeps its files where the compose service mounts them', () => {
    const acl = mountAt(mosquitto, confValue('acl_file') ?? '');
    expect(acl?.kind).toBe('bind');
    expect(acl?.source).toBe('./deploy/mosquitto/acl');
    // The password file (service accounts and devices) and the database live on volumes.
    const passwd = confValue('password_file') ?? '';
    expect(mountHolding(mosquitto, passwd)?.kind).toBe('volume');
    expect(read('deploy/mosquitto/entrypoint.sh')).toContain(`MOSQUITTO_PASSWD_FILE:-${passwd}}`);
    expect(confValue('persistence')).toBe('true');
    expect(mountHolding(mosquitto, confValue('persistence_location') ?? '')?.kind).toBe('volume');
  });

  it('lets a device do exactly what the embedded broker lets it do', () => {
    const acl = read('deploy/mosquitto/acl');
    const devices = ['A', 'B', 'dev-001'];
    const candidates = [
      ...devices.flatMap((d) => [topics.telemetry(d), topics.status(d), topics.ack(d), topics.commands(d)]),
      LIVE_POSITIONS_TOPIC,
      'devices/A',
      'devices/A/other',
      '$SYS/broker/uptime',
    ];
    for (const deviceId of devices) {
      const who: Principal = { kind: 'device', deviceId };
      for (const topic of candidates) {
        expect(aclAllows(acl, deviceId, 'write', topic), `${deviceId} writes ${topic}`).toBe(
          mayPublish(who, topic),
        );
        expect(aclAllows(acl, deviceId, 'read', topic), `${deviceId} reads ${topic}`).toBe(
          maySubscribe(who, topic),
        );
      }
    }
  });

  it('lets the service accounts do what ingest and the api need, and no more', () => {
    const acl = read('deploy/mosquitto/acl');
    for (const user of ['svc-ingest', 'svc-api']) {
      for (const topic of [
        topics.telemetry('A'),
        topics.status('A'),
        topics.ack('A'),
        LIVE_POSITIONS_TOPIC,
      ]) {
        expect(aclAllows(acl, user, 'read', topic), `${user} reads ${topic}`).toBe(true);
      }
      for (const topic of [topics.commands('A'), LIVE_POSITIONS_TOPIC]) {
        expect(aclAllows(acl, user, 'write', topic), `${user} writes ${topic}`).toBe(true);
      }
      for (const topic of [topics.telemetry('A'), topics.status('A'), topics.ack('A')]) {
        expect(aclAllows(acl, user, 'write', topic), `${user} must not forge ${topic}`).toBe(false);
      }
    }
  });
});

describe('deploy/haproxy/haproxy.cfg', () => {
  const target = '/usr/local/etc/haproxy/haproxy.cfg';
  const text = read('deploy/haproxy/haproxy.cfg');
  // Comments dropped, one setting a line.
  const lines = text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter(Boolean);
  const lbEnv = environment(lb);
  const servers = lines
    .filter((l) => l.startsWith('server '))
    .map((l) => {
      const [, name = '', address = ''] = l.split(/\s+/);
      return { name, line: l, variable: /^"\$\{(\w+)\}"$/.exec(address)?.[1] ?? '' };
    });

  it('is the file the lb service mounts and runs', () => {
    expect(mountAt(lb, target)?.kind).toBe('bind');
    expect(mountAt(lb, target)?.source).toBe('./deploy/haproxy/haproxy.cfg');
    expect(lb.command).toEqual(['haproxy', '-f', target]);
  });

  it('has one server per api node, at the address the lb service gives for it', () => {
    expect(servers.map((s) => s.name)).toEqual(apiNodes);
    for (const s of servers) {
      expect(lbEnv[s.variable], `${s.name}'s address (${s.variable})`).toBe(
        `${s.name}:${configOf(s.name).PORT}`,
      );
      // The sticky cookie's value names the server.
      expect(s.line).toMatch(new RegExp(`\\bcookie ${s.name}$`));
    }
  });

  it('expands exactly the variables the lb service sets, in double quotes (where HAProxy expands them)', () => {
    const used = [...text.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]);
    const quoted = [...text.matchAll(/"\$\{(\w+)\}"/g)].map((m) => m[1]);
    expect(quoted).toEqual(used);
    expect([...new Set(used)].sort()).toEqual(Object.keys(lbEnv).sort());
  });

  it("sends traffic only to api nodes whose health endpoint (the Dockerfile's HEALTHCHECK) answers", () => {
    expect(lines).toContain('option httpchk');
    expect(lines).toContain(`http-check send meth GET uri ${dockerfileRuntime().healthPath}`);
    expect(lines).toContain('http-check expect status 200');
    expect(lines.find((l) => l.startsWith('default-server '))).toMatch(/\bcheck\b/);
  });

  it('passes WebSocket upgrades through, keeps socket.io sessions on their node, and moves the clients of a dead node', () => {
    expect(lines).toContain('mode http');
    expect(lines.find((l) => l.startsWith('timeout tunnel '))).toBeDefined();
    expect(lines.some((l) => /^cookie \S+ insert\b/.test(l))).toBe(true);
    expect(lines).toContain('option redispatch');
    expect(lines).toContain('http-response set-header X-Served-By %[srv_name]');
  });

  it("answers the lb service's health check on the port it listens on", () => {
    const test = [lb.healthcheck?.test ?? []].flat().join(' ');
    const path = /GET (\/\S*)/.exec(test)?.[1];
    expect(lines).toContain(`monitor-uri ${path}`);
    expect(test).toContain(`/dev/tcp/127.0.0.1/${publishedTargets(lb)[0]}`);
  });

  const haproxy = findHaproxy();
  it.skipIf(!haproxy)('is a configuration HAProxy accepts, with the environment compose gives it', () => {
    const check = spawnSync(haproxy as string, ['-c', '-f', join(root, 'deploy/haproxy/haproxy.cfg')], {
      env: { PATH: process.env.PATH, ...lbEnv },
      encoding: 'utf8',
    });
    expect(check.status, check.stdout + check.stderr).toBe(0);
  });
});

describe('Dockerfile', () => {
  // Continuation lines joined, comments dropped.
  const instructions = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const space = l.indexOf(' ');
      return { op: l.slice(0, space).toUpperCase(), args: l.slice(space + 1).trim() };
    });
  const all = (op: string) => instructions.filter((i) => i.op === op).map((i) => i.args);
  const lastStage = instructions.slice(instructions.map((i) => i.op).lastIndexOf('FROM'));
  const argDefaults = Object.fromEntries(all('ARG').map((a) => a.split('=') as [string, string]));
  const dockerignore = read('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  // .dockerignore patterns are anchored at the context root (`**/` for any depth), and leaving out a
  // folder leaves out all in it. No `!` exceptions are used.
  const glob = (part: string) =>
    part
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]');
  const globs = dockerignore.map(
    (p) => new RegExp(`^${p.replace(/^\//, '').split('**/').map(glob).join('(?:.*/)?')}$`),
  );
  const ignored = (path: string) => {
    const parts = path.split('/');
    return parts.some((_, i) => globs.some((g) => g.test(parts.slice(0, i + 1).join('/'))));
  };

  it('builds on node:20-bookworm-slim', () => {
    const images = all('FROM').map((f) =>
      f.split(' ')[0]?.replace(/^\$\{(\w+)\}$/, (_, v) => argDefaults[v] ?? ''),
    );
    expect(images.length).toBeGreaterThanOrEqual(2);
    for (const image of images) expect(image).toBe('node:20-bookworm-slim');
  });

  const cmd = JSON.parse(lastStage.filter((i) => i.op === 'CMD').at(-1)?.args ?? '[]') as string[];
  const entryFile = () => cmd.find((a) => /\.[cm]?[jt]s$/.test(a)) ?? 'no entry file in CMD';

  it('runs an entry file that exists and is in the build context', () => {
    expect(cmd[0]).toBe('node');
    const entries = cmd.filter((a) => /\.[cm]?[jt]s$/.test(a));
    expect(entries).toEqual(['main.ts']);
    for (const entry of entries) {
      expect(existsSync(join(root, entry)), `${entry} exists`).toBe(true);
      expect(ignored(entry), `${entry} is not in .dockerignore`).toBe(false);
    }
  });

  it('runs as a non-root user, exposes the api port and checks /api/health', () => {
    const user = lastStage.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(all('EXPOSE')).toEqual([String(configOf('api-1').PORT)]);
    expect(all('HEALTHCHECK').join(' ')).toContain('/api/health');
  });

  it('copies only sources that exist, and keeps local state out of the image', () => {
    for (const copy of all('COPY').filter((c) => !c.startsWith('--from'))) {
      const sources = copy
        .split(/\s+/)
        .filter((a) => !a.startsWith('--'))
        .slice(0, -1);
      for (const source of sources) expect(existsSync(join(root, source)), `COPY ${source}`).toBe(true);
    }
    for (const path of ['node_modules', 'data', 'test-output', 'web/dist', '.git']) {
      expect(ignored(path), `${path} is in .dockerignore`).toBe(true);
    }
  });

  it('loads from its entry file only dependencies and files in the image (devDependencies are pruned)', () => {
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    const imports =
      /^\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\s+from\s+)?['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gms;
    const problems: string[] = [];
    const seen = new Set<string>();
    const queue = [entryFile()];
    for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
      if (seen.has(file)) continue;
      seen.add(file);
      for (const [, typeOnly, staticSpecifier, dynamicSpecifier] of read(file).matchAll(imports)) {
        const specifier = staticSpecifier ?? dynamicSpecifier ?? '';
        if (typeOnly) continue;
        if (specifier.startsWith('.')) {
          const base = posix.normalize(posix.join(posix.dirname(file), specifier));
          const target = [base, `${base}.ts`, `${base}/index.ts`].find(
            (f) => existsSync(join(root, f)) && statSync(join(root, f)).isFile(),
          );
          if (!target) problems.push(`${file} imports ${specifier}, which does not exist`);
          else if (ignored(target))
            problems.push(`${file} imports ${specifier}, which .dockerignore leaves out`);
          else if (/\.[cm]?[jt]sx?$/.test(target)) queue.push(target);
          continue;
        }
        const name = specifier.startsWith('@')
          ? specifier.split('/').slice(0, 2).join('/')
          : specifier.split('/')[0];
        if (specifier.startsWith('node:') || builtinModules.includes(name ?? '')) continue;
        if (!(name && name in pkg.dependencies))
          problems.push(`${file} imports ${specifier}, not a dependency`);
      }
    }
    expect(seen.size).toBeGreaterThan(1);
    expect(problems).toEqual([]);
  });
});
