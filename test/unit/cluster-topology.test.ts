/**
 * `npm run cluster` and docker-compose.yml describe the same topology. Two descriptions are held
 * against each other: what startCluster would run (clusterPlan, nothing started), and what compose
 * would run, read here from the compose file and the Dockerfile with the container network's
 * differences written out below as the only ones allowed. Then the plan is shown to follow the
 * compose file when the file changes, so it cannot be a copy that happens to agree today.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Compose,
  composeWith,
  environment,
  read,
  root,
  type Service,
} from '../../deploy/cluster/compose.ts';
import { planCluster, processNames } from '../../deploy/cluster/plan.ts';
import { type ClusterOptions, clusterPlan } from '../../deploy/cluster/start.ts';

const options: ClusterOptions = {
  databaseUrl: 'postgres://cluster@127.0.0.1:5432/rt_cluster_test',
  mqttUrl: 'mqtt://127.0.0.1:1883',
  redisUrl: 'redis://127.0.0.1:6379',
  env: { LOG_LEVEL: 'warn', INGEST_MAX_BATCH: '500' },
};
const WORK = '/tmp/rt-cluster-unit';
const HAPROXY = '/usr/sbin/haproxy';
const plan = await clusterPlan(options, { workDir: WORK, haproxy: HAPROXY, loadBalancer: true });
const compose = composeWith(plan.deployment);
const services = compose.services;
const spec = (name: string) => {
  const s = plan.specs.find((p) => p.name === name);
  if (!s) throw new Error(`no process ${name}`);
  return s;
};

/** The Dockerfile's runtime stage, read here on its own: ENV and CMD. */
function dockerfile(): { env: Record<string, string>; cmd: string[] } {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const [, line] of runtime.matchAll(/^ENV (.*)$/gm))
    for (const [, k, v] of (line ?? '').matchAll(/(\w+)=(\S+)/g)) env[k as string] = v as string;
  const cmd = JSON.parse(/^CMD (.*)$/m.exec(runtime)?.[1] ?? '[]') as string[];
  return { env, cmd };
}

/** compose's services by what they are: stood in for by this machine's servers, app roles, or the lb. */
const standIns = Object.entries(services)
  .filter(([, s]) => s.build === undefined && !s.image?.startsWith('haproxy:'))
  .map(([name]) => name);
const roleOf = (s: Service) => (s.build !== undefined ? environment(s).ROLES : 'lb');
const portOf = (name: string) => spec(name).port;
const composeServiceOf = (processName: string) => services[spec(processName).service] as Service;

/**
 * The one description's value for a variable, from the other's: what a container sees, turned
 * into what a local process must see. Only the container network's parts change.
 */
function expectedLocal(processName: string, key: string, value: string): string | 'a local path' {
  if (key === 'DATABASE_URL' && new URL(value).hostname === 'db') return options.databaseUrl;
  if (key === 'MQTT_URL' && new URL(value).hostname === 'mosquitto') return options.mqttUrl;
  if (key === 'REDIS_URL' && new URL(value).hostname === 'redis') return options.redisUrl;
  if (key === 'HOST' && value === '0.0.0.0') return '127.0.0.1';
  if (key === 'PORT') return String(portOf(processName));
  if (key === 'INGEST_CLIENT_ID') return `${value}-${plan.id}`;
  if (key === 'LB_BIND' && value === ':8080') return `127.0.0.1:${portOf(processName)}`;
  const other = /^(api-\d+):8080$/.exec(value);
  if (other) return `127.0.0.1:${portOf(other[1] as string)}`;
  if (value.startsWith('/')) return 'a local path';
  return value;
}

describe('npm run cluster and docker-compose.yml', () => {
  it('run the same services, with the same roles, as many of each', () => {
    expect(standIns.sort()).toEqual(['db', 'mosquitto', 'redis']);
    const fromCompose = Object.entries(services)
      .filter(([name]) => !standIns.includes(name))
      .flatMap(([name, s]) => Array.from({ length: s.deploy?.replicas ?? 1 }, () => [name, roleOf(s)]));
    const fromPlan = plan.specs.map((p) => [p.service, p.role]);
    expect(fromPlan).toEqual(fromCompose);
    const count = (role: string) => plan.specs.filter((p) => p.role === role).length;
    expect([count('api'), count('ingest'), count('lb')]).toEqual([2, 2, 1]);
    expect(plan.specs.map((p) => p.name)).toEqual(['api-1', 'api-2', 'ingest-1', 'ingest-2', 'lb']);
  });

  it("run the image's command in every app process, and haproxy with the compose file's haproxy.cfg", () => {
    const { cmd } = dockerfile();
    for (const p of plan.specs.filter((s) => s.role !== 'lb')) {
      expect(cmd[0]).toBe('node');
      expect([p.command, ...p.args], p.name).toEqual([process.execPath, ...cmd.slice(1)]);
      expect(p.cwd).toBe(root);
    }
    const lb = spec('lb');
    const command = [composeServiceOf('lb').command ?? []].flat();
    expect(lb.command).toBe(HAPROXY);
    // The image runs it in the foreground (its entrypoint adds -db); the file is the one mounted.
    expect(lb.args.filter((a) => a !== '-db').length).toBe(command.length - 1);
    const inContainer = command[command.indexOf('-f') + 1] as string;
    const mounted = (composeServiceOf('lb').volumes ?? [])
      .map((v) => String(v).split(':'))
      .find(([, target]) => target === inContainer)?.[0] as string;
    const local = lb.args[lb.args.indexOf('-f') + 1] as string;
    expect(realpathSync(local)).toBe(realpathSync(join(root, mounted)));
    expect(realpathSync(local)).toBe(realpathSync(join(root, 'deploy/haproxy/haproxy.cfg')));
  });

  it('give each process the environment of its service, changed only where the container network differs', () => {
    const image = dockerfile().env;
    for (const p of plan.specs) {
      const s = composeServiceOf(p.name);
      const container = { ...(p.role === 'lb' ? {} : image), ...environment(s) };
      const expected: Record<string, string> = { PATH: process.env.PATH ?? '' };
      for (const [key, value] of Object.entries(container)) {
        const local = expectedLocal(p.name, key, value);
        expected[key] = local === 'a local path' ? (p.env[key] ?? 'missing') : local;
        if (local === 'a local path') {
          expect(isAbsolute(p.env[key] ?? ''), `${p.name} ${key}`).toBe(true);
          expect(p.env[key], `${p.name} ${key} is on this machine`).not.toBe(value);
          expect(p.env[key]?.startsWith(WORK), `${p.name} ${key} under the work folder`).toBe(true);
        }
      }
      if (p.role !== 'lb') Object.assign(expected, options.env);
      expect(p.env, p.name).toEqual(expected);
    }
  });

  it('share what compose shares on volumes, and keep apart what each container keeps', () => {
    // device-credentials: every api node writes the one file the broker reads.
    expect(spec('api-1').env.MOSQUITTO_PASSWORD_FILE).toBe(spec('api-2').env.MOSQUITTO_PASSWORD_FILE);
    // api-data is one volume of both api nodes; an ingest worker's DATA_DIR is its container's own.
    expect(spec('api-1').env.DATA_DIR).toBe(spec('api-2').env.DATA_DIR);
    expect(spec('ingest-1').env.DATA_DIR).not.toBe(spec('ingest-2').env.DATA_DIR);
    expect(spec('ingest-1').env.DATA_DIR).not.toBe(spec('api-1').env.DATA_DIR);
  });

  it('give every process a port of its own, the load balancer the published one, and the nodes one set of secrets', () => {
    const ports = plan.specs.map((p) => p.port);
    expect(new Set(ports).size).toBe(ports.length);
    expect(spec('lb').port).toBe(plan.lbPort);
    for (const name of ['api-1', 'api-2']) {
      expect(spec(name).env.JWT_SECRET).toBe(plan.deployment.JWT_SECRET);
      expect(spec(name).env.KEY_ENCRYPTION_KEY).toBe(plan.deployment.KEY_ENCRYPTION_KEY);
    }
    expect(plan.deployment.JWT_SECRET?.length).toBeGreaterThanOrEqual(32);
  });

  it('keep two clusters on the same servers apart: share group, Redis prefix and broker sessions', async () => {
    const other = await clusterPlan(options, { workDir: WORK, haproxy: HAPROXY, loadBalancer: true });
    const names = (p: typeof plan, key: string) =>
      p.specs.map((s) => s.env[key]).filter((v): v is string => v !== undefined);
    for (const key of ['INGEST_SHARE_GROUP', 'REDIS_KEY_PREFIX', 'INGEST_CLIENT_ID']) {
      expect(names(plan, key).length, key).toBeGreaterThan(0);
      for (const value of names(plan, key)) expect(names(other, key), key).not.toContain(value);
    }
    const chosen = await clusterPlan(
      { ...options, redisKeyPrefix: 'chaos-1' },
      { workDir: WORK, haproxy: HAPROXY, loadBalancer: true },
    );
    expect(names(chosen, 'REDIS_KEY_PREFIX')).toEqual(['chaos-1', 'chaos-1']);
  });

  it('leave out only the load balancer without haproxy', async () => {
    const bare = await clusterPlan(options, { workDir: WORK, haproxy: HAPROXY, loadBalancer: false });
    expect(bare.specs.map((p) => p.name)).toEqual(['api-1', 'api-2', 'ingest-1', 'ingest-2']);
  });
});

describe('the cluster follows the compose file', () => {
  const image = { ...dockerfile(), healthPath: '/api/health' };
  const planOf = (changed: Compose) =>
    planCluster({
      compose: changed,
      image,
      standIns: options,
      ports: Object.fromEntries(processNames(changed).map((name, i) => [name, 20_000 + i])),
      workDir: WORK,
      clusterId: 'c1',
      binaries: { node: 'node', haproxy: 'haproxy' },
      loadBalancer: true,
      path: '/bin',
    });
  const copy = (): Compose => structuredClone(compose);

  it('runs a third api node added to it', () => {
    const changed = copy();
    changed.services['api-3'] = structuredClone(changed.services['api-2'] as Service);
    expect(
      planOf(changed)
        .filter((p) => p.role === 'api')
        .map((p) => p.name),
    ).toEqual(['api-1', 'api-2', 'api-3']);
  });

  it('passes on a setting changed in a service', () => {
    const changed = copy();
    (changed.services['ingest-2']?.environment as Record<string, string>).INGEST_MAX_BATCH = '123';
    const ingest2 = planOf(changed).find((p) => p.name === 'ingest-2');
    expect(ingest2?.env.INGEST_MAX_BATCH).toBe('123');
    expect(planOf(changed).find((p) => p.name === 'ingest-1')?.env.INGEST_MAX_BATCH).toBeUndefined();
  });

  it('runs replicas as processes of their own, each with its own broker session', () => {
    const changed = copy();
    const worker = structuredClone(changed.services['ingest-1'] as Service);
    delete (worker.environment as Record<string, string>).INGEST_CLIENT_ID;
    worker.deploy = { replicas: 3 };
    changed.services.worker = worker;
    const workers = planOf(changed).filter((p) => p.service === 'worker');
    expect(workers.map((p) => p.name)).toEqual(['worker-1', 'worker-2', 'worker-3']);
    expect(new Set(workers.map((p) => p.env.INGEST_CLIENT_ID)).size).toBe(3);
  });

  it('refuses a service it has no local counterpart for, rather than leave it out', () => {
    const changed = copy();
    changed.services.grafana = { image: 'grafana/grafana:11' };
    expect(() => planOf(changed)).toThrow(/grafana/);
  });

  it('refuses an address of another container that is not where that container listens', () => {
    const changed = copy();
    (changed.services.lb?.environment as Record<string, string>).API_1_ADDR = 'api-1:9999';
    expect(() => planOf(changed)).toThrow(/api-1:9999/);
  });
});
