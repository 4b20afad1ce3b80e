/**
 * `npm run sim -- --devices 500 --speed 60 --mqtt-url mqtt://broker:1883` — a simulated fleet
 * against any broker, with a progress line and a summary at the end. See --help.
 */
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { type ParsedCli, parseSimArgs, type SimCliOptions, USAGE } from './cli-args.ts';
import { createFleet } from './fleet.ts';
import { consoleLogger } from './log.ts';
import { type FleetRun, type FleetStats, runFleet } from './run-fleet.ts';
import { fleetTruth } from './trace.ts';

const CONNECT_GRACE_MS = 30_000;

function fail(message: string, code: number): never {
  process.stderr.write(`sim: ${message}\n`);
  process.exit(code);
}

/** A plain TCP knock, so a wrong host or port fails in seconds with the reason, not silent retries. */
async function probe(url: string): Promise<string | null> {
  const u = new URL(url);
  if (!['mqtt:', 'tcp:', 'mqtts:'].includes(u.protocol)) return null;
  const port = Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883));
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname, port, timeout: 5000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer within 5 s');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const cst = (t: number) => `${new Date(t + 8 * 3_600_000).toISOString().slice(0, 16).replace('T', ' ')} CST`;

function progressLine(s: FleetStats, rate: number): string {
  return [
    `sim ${cst(s.simTime)}`,
    `connected ${fmt(s.connected)}/${fmt(s.devices)}`,
    `${fmt(s.messages)} msgs (${fmt(rate)}/s)`,
    `${fmt(s.reports)} reports`,
    `buffered ${fmt(s.buffered)}`,
    `drops ${fmt(s.simulatedDrops)}`,
    `silent ${s.silent}`,
  ].join(' | ');
}

function summary(s: FleetStats, o: SimCliOptions, startedAt: number): string {
  const wallS = (Date.now() - startedAt) / 1000;
  return [
    '',
    'Simulation summary',
    `  devices            ${fmt(s.devices)} (${fmt(s.started)} connected at least once, seed ${o.seed})`,
    `  simulated time     ${cst(o.start)} → ${cst(s.simTime)} at ${o.speed}x`,
    `  wall time          ${wallS.toFixed(1)} s`,
    `  messages           ${fmt(s.messages)} (${fmt(s.backlogMessages)} backlog arrays), ${fmt(s.reports)} reports, ${fmt(s.messages / Math.max(wallS, 0.001))}/s`,
    `  still buffered     ${fmt(s.buffered)} reports`,
    `  simulated drops    ${fmt(s.simulatedDrops)} (coverage gaps, reboots, power cuts); ${s.silent} box(es) gone dark`,
    `  commands answered  ${fmt(s.commands)}`,
    `  errors             ${fmt(s.errors)}${s.lastError ? ` (last: ${s.lastError})` : ''}`,
    '',
  ].join('\n');
}

async function main(parsed: ParsedCli): Promise<void> {
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (parsed.kind === 'error') fail(`${parsed.message}\nRun with --help for the options.`, 2);
  const o = parsed.options;
  const unreachable = await probe(o.mqttUrl);
  if (unreachable) fail(`cannot reach the broker at ${o.mqttUrl}: ${unreachable}`, 1);

  const machines = createFleet({
    devices: o.devices,
    seed: o.seed,
    start: o.start,
    story: o.storyDepartAt === false ? false : o.storyDepartAt === null ? {} : { departAt: o.storyDepartAt },
  });
  const writeTruth = () => {
    if (o.truthFile) writeFileSync(o.truthFile, `${JSON.stringify(fleetTruth(machines, o), null, 2)}\n`);
  };
  writeTruth();

  const startedAt = Date.now();
  const fleet: FleetRun = runFleet({
    mqttUrl: o.mqttUrl,
    machines,
    speed: o.speed,
    startTime: o.start,
    protocolVersion: o.protocolVersion,
    logger: consoleLogger('warn'),
  });
  const tty = process.stdout.isTTY === true;
  let lastMessages = 0;
  let lastAt = startedAt;
  let lastPrinted = 0;
  const progress = setInterval(() => {
    const s = fleet.stats();
    const now = Date.now();
    const rate = ((s.messages - lastMessages) * 1000) / Math.max(1, now - lastAt);
    lastMessages = s.messages;
    lastAt = now;
    if (o.quiet) return;
    if (tty) process.stdout.write(`\r${progressLine(s, rate)}\u001b[K`);
    else if (now - lastPrinted >= 10_000) {
      lastPrinted = now;
      process.stdout.write(`${progressLine(s, rate)}\n`);
    }
  }, 1000);

  let finishing = false;
  const finish = async (code: number, why?: string) => {
    if (finishing) return;
    finishing = true;
    clearInterval(progress);
    if (tty && !o.quiet) process.stdout.write('\n');
    if (why) process.stderr.write(`sim: ${why}\n`);
    await fleet.stop();
    writeTruth();
    process.stdout.write(summary(fleet.stats(), o, startedAt));
    if (o.truthFile) process.stdout.write(`Ground truth written to ${o.truthFile}\n`);
    process.exit(code);
  };
  process.on('SIGINT', () => (finishing ? process.exit(130) : void finish(0)));
  process.on('SIGTERM', () => void finish(0));
  if (o.durationS !== null) setTimeout(() => void finish(0), o.durationS * 1000);
  setTimeout(() => {
    const s = fleet.stats();
    if (s.devices > 0 && s.started === 0) {
      void finish(
        1,
        `no device could connect within ${CONNECT_GRACE_MS / 1000} s: ${s.lastError ?? 'no answer'}${
          /auth|password|identifier/i.test(s.lastError ?? '')
            ? ` — are the devices provisioned on the broker with seed ${o.seed}?`
            : ''
        }`,
      );
    }
  }, CONNECT_GRACE_MS);
}

await main(parseSimArgs(process.argv.slice(2), process.env, Date.now()));
