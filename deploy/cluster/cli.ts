/**
 * `npm run cluster`: docker-compose.yml's topology (two api nodes behind HAProxy, two ingest
 * workers) as local processes on this machine's PostgreSQL, Mosquitto and Redis, until Ctrl-C.
 * See --help and docs/deployment.md, "The topology on one machine".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { root } from './compose.ts';
import { createOwnDatabase, namesDatabase, type OwnDatabase } from './database.ts';
import { type Cluster, findHaproxy, startCluster } from './start.ts';

const USAGE = `Usage: npm run cluster [-- options]

Runs docker-compose.yml's topology as local processes: api-1 and api-2 behind a local haproxy
(deploy/haproxy/haproxy.cfg), ingest-1 and ingest-2, each with its compose environment, against
this machine's PostgreSQL, Mosquitto and Redis. A process that exits is restarted. Ctrl-C stops all.

Options:
  --database <url>  PostgreSQL (default postgres://postgres@127.0.0.1:5432). A server URL gets a
                    database of the cluster's own, with the demo users, dropped at the end; a URL
                    naming a database is used as it is and kept
  --mqtt <url>      the broker (default mqtt://127.0.0.1:1883)
  --redis <url>     Redis (default redis://127.0.0.1:6379)
  --port <n>        the load balancer's port (default 8080, or a free one when 8080 is taken)
  --no-lb           no load balancer (also what happens when haproxy is not installed): each api
                    node's own URL is printed
  --logs <dir>      where each process's log goes (default: a temporary folder, printed)
  --log-level <l>   LOG_LEVEL of the nodes (default info)
  --help            show this help
`;

interface Args {
  database: string;
  mqtt: string;
  redis: string;
  port: number | undefined;
  lb: boolean;
  logs: string | undefined;
  logLevel: string | undefined;
}

function parse(argv: string[]): Args | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      database: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
      mqtt: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
      redis: { type: 'string', default: 'redis://127.0.0.1:6379' },
      port: { type: 'string' },
      'no-lb': { type: 'boolean', default: false },
      logs: { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536))
    throw new Error(`--port must be a port number (1-65535), not ${values.port}`);
  for (const [name, value, protocols] of [
    ['--database', values.database, ['postgres:', 'postgresql:']],
    ['--mqtt', values.mqtt, ['mqtt:', 'mqtts:']],
    ['--redis', values.redis, ['redis:', 'rediss:']],
  ] as const) {
    if (!URL.canParse(value) || !(protocols as readonly string[]).includes(new URL(value).protocol))
      throw new Error(`${name} must be a ${protocols.join(' or ')}// URL, not ${value}`);
  }
  return {
    database: values.database,
    mqtt: values.mqtt,
    redis: values.redis,
    port,
    lb: !values['no-lb'],
    logs: values.logs,
    logLevel: values['log-level'],
  };
}

const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });

/** What the image's build does before the app runs: the web app's bundle, when it is missing. */
function buildWebIfMissing(): void {
  if (existsSync(join(root, 'web/dist/index.html'))) return;
  process.stdout.write('Building the web app (npm run build:web), as the image build does…\n');
  const r = spawnSync('npm', ['run', '-s', 'build:web'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build:web failed');
}

/** The demo users (password "demo") in the cluster's own database, through the users command. */
function addDemoUsers(databaseUrl: string, cluster: Cluster): void {
  const r = spawnSync('npm', ['run', '-s', 'users', '--', 'demo'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, ...cluster.secrets },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`npm run users -- demo failed:\n${r.stderr}`);
}

function banner(args: Args, cluster: Cluster, database: OwnDatabase | null, seconds: number): string {
  const api = cluster.processes.filter((p) => p.role === 'api');
  const lines = [
    '',
    `  docker-compose.yml's topology is up as local processes in ${seconds.toFixed(1)} s`,
    cluster.loadBalanced
      ? `  Open:      ${cluster.url}   (haproxy, in front of ${api.map((p) => p.name).join(' and ')})`
      : `  Open:      ${api.map((p) => p.url).join(' or ')}   (no load balancer: each api node serves it all)`,
    ...cluster.processes.map((p) => `    ${p.name.padEnd(9)} ${p.url}  pid ${p.pid}`),
    `  Database:  ${database ? `${database.url} (the cluster's own, dropped at the end)` : args.database}`,
    `  MQTT:      ${args.mqtt}   Redis: ${args.redis} (keys under ${cluster.process(api[0]?.name ?? '').env.REDIS_KEY_PREFIX})`,
    database
      ? '  Sign in:   admin, risk1, risk2, collector, agent, auditor (password "demo")'
      : '  Sign in:   a user of that database (npm run users -- add <name> --role <role> --generate)',
    database
      ? `  Fleet:     SIM_API_PASSWORD=demo npm run sim -- --mqtt-url ${args.mqtt} --api-url ${cluster.url} --api-user admin --id-prefix C${process.pid}`
      : null,
    `  Logs:      ${cluster.logDir}/<name>.log`,
    '  Ctrl-C stops everything.',
  ];
  return lines.filter((l) => l !== null).join('\n');
}

/** An exit code, or 'running' while the cluster runs (the signal handlers end the process). */
async function main(): Promise<number | 'running'> {
  let args: Args | 'help';
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (args === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const started = performance.now();
  let loadBalancer = args.lb;
  if (loadBalancer && !findHaproxy()) {
    loadBalancer = false;
    process.stdout.write(
      'haproxy is not installed (apt-get install haproxy): running without a load balancer.\n',
    );
  }
  let lbPort = args.port;
  if (loadBalancer && lbPort === undefined) lbPort = (await portFree(8080)) ? 8080 : 0;
  buildWebIfMissing();
  const database = namesDatabase(args.database) ? null : await createOwnDatabase(args.database);
  const logDir = args.logs ?? mkdtempSync(join(tmpdir(), 'rt-cluster-logs-'));
  let cluster: Cluster | null = null;
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      process.stdout.write('\nStopping the cluster…\n');
      await cluster?.stop();
      await database?.drop();
      process.stdout.write(`Stopped. Logs: ${logDir}\n`);
    })();
    return stopping;
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(0)));
  process.on('SIGTERM', () => void stop().then(() => process.exit(0)));
  try {
    cluster = await startCluster({
      databaseUrl: database?.url ?? args.database,
      mqttUrl: args.mqtt,
      redisUrl: args.redis,
      lbPort: lbPort ?? 0,
      loadBalancer,
      logDir,
      env: args.logLevel ? { LOG_LEVEL: args.logLevel } : {},
    });
    await cluster.waitHealthy();
    if (database) addDemoUsers(database.url, cluster);
  } catch (e) {
    process.stderr.write(`\n${(e as Error).message}\n`);
    await stop();
    return 1;
  }
  process.stdout.write(`${banner(args, cluster, database, (performance.now() - started) / 1000)}\n`);
  // Says when the supervisor restarted a process (its log says why it exited).
  const restarts = new Map(cluster.processes.map((p) => [p.name, p.restarts]));
  setInterval(() => {
    for (const p of cluster?.processes ?? []) {
      if (p.restarts === restarts.get(p.name)) continue;
      restarts.set(p.name, p.restarts);
      process.stdout.write(`${p.name} exited and was restarted (pid ${p.pid}); see ${p.logFile}\n`);
    }
  }, 1000);
  return 'running';
}

const result = await main();
if (result !== 'running') process.exit(result);
