/**
 * docker-compose.yml's platform services started as local processes, without Docker: each service
 * built from this repository (api, ingest × replicas) runs the Dockerfile's CMD with the Dockerfile's
 * ENV and the service's environment, interpolated from a deploy/.env filled in as
 * deploy/.env.example says. Only what a container network provides is mapped: the service host
 * names `db` and `mosquitto` to this machine's PostgreSQL and Mosquitto, the paths of volumes to a
 * temporary folder, each replica's host name to a client id, and the listening address and ports
 * to loopback and free ports. Then it waits for every process's health endpoint and stops them.
 * Exit 0: all healthy; 1: one exited or stayed unhealthy (its output is printed).
 *
 *   npx tsx test/deploy/compose-local.ts   # .ci/run runs it
 *
 * COMPOSE_LOCAL_DATABASE (default postgres://postgres@127.0.0.1:5432) and COMPOSE_LOCAL_MQTT
 * (default mqtt://127.0.0.1:1883) say where the local services are. A database of its own is created
 * and dropped again, so it clashes with nothing on a shared server.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forgetSessions } from '../support/broker-sessions.ts';
import {
  appServices,
  composeWith,
  deploymentEnv,
  dockerfileRuntime,
  environment,
  root,
} from '../support/compose.ts';

const DATABASE = new URL(process.env.COMPOSE_LOCAL_DATABASE ?? 'postgres://postgres@127.0.0.1:5432');
const MQTT = new URL(process.env.COMPOSE_LOCAL_MQTT ?? 'mqtt://127.0.0.1:1883');
const HEALTH_TIMEOUT_MS = 120_000;
const run = `${process.pid}`;

const freePort = () =>
  new Promise<number>((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

/** A URL of the compose network with its host (and port) replaced by the local service's. */
function local(url: string): string {
  const u = new URL(url);
  const target = u.hostname === 'db' ? DATABASE : u.hostname === 'mosquitto' ? MQTT : null;
  if (!target) throw new Error(`no local counterpart for ${u.hostname} in ${u.protocol}//${u.host}`);
  u.hostname = target.hostname;
  u.port = target.port;
  // A local server's account when it has one; compose's otherwise (a server that trusts loopback).
  if (target.username) u.username = target.username;
  if (target.password) u.password = target.password;
  return u.toString();
}

/** Runs SQL on the local server's `postgres` database (to create and drop the run's own). */
function psql(sql: string) {
  const admin = new URL(DATABASE.toString());
  admin.pathname = '/postgres';
  execFileSync('psql', [admin.toString(), '-qAtc', sql], { stdio: ['ignore', 'pipe', 'inherit'] });
}

interface Started {
  name: string;
  child: ChildProcess;
  health: string;
  output: string[];
  exited: number | null;
}

async function main(): Promise<number> {
  const database = `rt_compose_${run}`;
  // deploy/.env: the example's values, generated secrets, and a database and share group of its own.
  const env = deploymentEnv({
    POSTGRES_USER: DATABASE.username || 'postgres',
    POSTGRES_DB: database,
    INGEST_SHARE_GROUP: `compose-${run}`,
  });
  const compose = composeWith(env);
  const runtime = dockerfileRuntime();
  const work = mkdtempSync(join(tmpdir(), 'rt-compose-'));
  const started: Started[] = [];
  const ingestClients: string[] = [];
  psql(`create database ${database}`);
  try {
    for (const [name, service] of appServices(compose)) {
      const replicas = service.deploy?.replicas ?? 1;
      for (let n = 1; n <= replicas; n++) {
        const own = environment(service);
        const port = await freePort();
        // The service's volumes: a folder of this replica's.
        const volumes = join(work, `${name}-${n}`);
        mkdirSync(join(volumes, 'data'), { recursive: true });
        const processEnv: Record<string, string> = {
          PATH: process.env.PATH ?? '',
          ...runtime.env,
          ...own,
          // What the container network and volumes provide, mapped to this machine.
          HOST: '127.0.0.1',
          PORT: String(port),
          DATA_DIR: join(volumes, 'data'),
        };
        if (own.DATABASE_URL) processEnv.DATABASE_URL = local(own.DATABASE_URL);
        if (own.MQTT_URL) processEnv.MQTT_URL = local(own.MQTT_URL);
        if (own.MOSQUITTO_PASSWORD_FILE) processEnv.MOSQUITTO_PASSWORD_FILE = join(volumes, 'devices.passwd');
        // Each container has a host name of its own, which names its ingest session (ingest-<host>).
        if (name === 'ingest') {
          processEnv.INGEST_CLIENT_ID = `compose-${name}-${n}-${run}`;
          ingestClients.push(processEnv.INGEST_CLIENT_ID);
        }
        const [command = 'node', ...args] = runtime.cmd;
        const child = spawn(command, args, { cwd: root, env: processEnv, stdio: ['ignore', 'pipe', 'pipe'] });
        const s: Started = {
          name: `${name}-${n}`,
          child,
          health: `http://127.0.0.1:${port}/${name === 'api' ? 'api/health' : 'health'}`,
          output: [],
          exited: null,
        };
        const keep = (b: Buffer) => s.output.push(...b.toString().split('\n').filter(Boolean).slice(-50));
        child.stdout?.on('data', keep);
        child.stderr?.on('data', keep);
        child.on('exit', (code) => {
          s.exited = code ?? -1;
        });
        started.push(s);
        console.log(`started ${s.name}: ${runtime.cmd.join(' ')} (ROLES=${own.ROLES}, ${s.health})`);
      }
    }
    const deadline = Date.now() + HEALTH_TIMEOUT_MS;
    const healthy = new Set<string>();
    while (healthy.size < started.length) {
      for (const s of started) {
        if (healthy.has(s.name)) continue;
        if (s.exited !== null) {
          console.error(`${s.name} exited with ${s.exited}:\n  ${s.output.slice(-20).join('\n  ')}`);
          return 1;
        }
        const ok = await fetch(s.health).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) {
          healthy.add(s.name);
          console.log(`healthy ${s.name}`);
        }
      }
      if (Date.now() > deadline) {
        for (const s of started.filter((x) => !healthy.has(x.name)))
          console.error(
            `${s.name} not healthy after ${HEALTH_TIMEOUT_MS / 1000} s:\n  ${s.output.slice(-20).join('\n  ')}`,
          );
        return 1;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    console.log(`compose topology healthy as local processes: ${started.map((s) => s.name).join(', ')}`);
    return 0;
  } finally {
    for (const s of started) if (s.exited === null) s.child.kill('SIGTERM');
    await Promise.all(
      started.map((s) => (s.exited === null ? new Promise((r) => s.child.once('exit', r)) : null)),
    );
    await forgetSessions(MQTT.toString(), ingestClients).catch(() => {});
    psql(`drop database if exists ${database} with (force)`);
    rmSync(work, { recursive: true, force: true });
  }
}

process.exit(await main());
