/**
 * `npm run sim -- --devices 500 --speed 60 --mqtt-url mqtt://broker:1883` — a simulated fleet
 * against any broker, with a progress bar (on a terminal) and a summary at the end. With
 * `--api-url` it first sets the platform up for the fleet through its api. See --help.
 */
import { writeFileSync } from 'node:fs';
import { type ApiSetupResult, setUpPlatform } from './api-setup.ts';
import { type ParsedCli, parseSimArgs, type SimCliOptions, USAGE } from './cli-args.ts';
import { brokerUnreachable, EXIT_FAILED, fmt, runFail, startProgress, usageFail } from './cli-kit.ts';
import { createFleet } from './fleet.ts';
import { consoleLogger } from './log.ts';
import { type FleetRun, type FleetStats, runFleet } from './run-fleet.ts';
import { fleetTruth } from './trace.ts';

const CONNECT_GRACE_MS = 30_000;

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

function setupLines(o: SimCliOptions, r: ApiSetupResult | null): string[] {
  if (!o.api || !r) return [];
  return [
    `  platform           ${o.api.url}: ${fmt(r.devices.created)} devices provisioned, ${fmt(r.devices.refreshed)} refreshed`,
    `  contracts          ${fmt(r.contracts.created)} created, ${fmt(r.contracts.updated)} updated as of ${r.asOf}; stages 0/1/2/3: ${r.stages.map(fmt).join('/')}`,
  ];
}

function summary(s: FleetStats, o: SimCliOptions, startedAt: number, setup: ApiSetupResult | null): string {
  const wallS = (Date.now() - startedAt) / 1000;
  return [
    '',
    'Simulation summary',
    ...setupLines(o, setup),
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
  if (parsed.kind === 'error') usageFail('sim', parsed.message);
  const o = parsed.options;
  const unreachable = await brokerUnreachable(o.mqttUrl);
  if (unreachable) runFail('sim', `cannot reach the broker at ${o.mqttUrl}: ${unreachable}`);

  const machines = createFleet({
    devices: o.devices,
    seed: o.seed,
    idPrefix: o.idPrefix,
    start: o.start,
    story: o.storyDepartAt === false ? false : o.storyDepartAt === null ? {} : { departAt: o.storyDepartAt },
  });
  const writeTruth = () => {
    if (o.truthFile) writeFileSync(o.truthFile, `${JSON.stringify(fleetTruth(machines, o), null, 2)}\n`);
  };
  writeTruth();
  const setup = o.api ? await setUp(o, machines) : null;

  const startedAt = Date.now();
  const fleet: FleetRun = runFleet({
    mqttUrl: o.mqttUrl,
    machines,
    speed: o.speed,
    startTime: o.start,
    protocolVersion: o.protocolVersion,
    logger: consoleLogger('warn'),
  });
  // With --duration the bar counts real seconds towards it; without, it is a status line.
  const progress = startProgress({
    quiet: o.quiet,
    total: o.durationS ?? 0,
    format: o.durationS === null ? 'sim | {line}' : 'sim {bar} {value}/{total} s | {line}',
    payload: { line: 'connecting' },
  });
  let lastMessages = 0;
  let lastAt = startedAt;
  const ticker = setInterval(() => {
    const s = fleet.stats();
    const now = Date.now();
    const rate = ((s.messages - lastMessages) * 1000) / Math.max(1, now - lastAt);
    lastMessages = s.messages;
    lastAt = now;
    const elapsedS = Math.floor((now - startedAt) / 1000);
    progress.update(o.durationS === null ? 0 : Math.min(elapsedS, o.durationS), {
      line: progressLine(s, rate),
    });
  }, 1000);

  let finishing = false;
  const finish = async (code: number, why?: string) => {
    if (finishing) return;
    finishing = true;
    clearInterval(ticker);
    progress.stop();
    if (why) process.stderr.write(`sim: ${why}\n`);
    await fleet.stop();
    writeTruth();
    process.stdout.write(summary(fleet.stats(), o, startedAt, setup));
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
        EXIT_FAILED,
        `no device could connect within ${CONNECT_GRACE_MS / 1000} s: ${s.lastError ?? 'no answer'}${
          /auth|password|identifier/i.test(s.lastError ?? '')
            ? ` — are the devices provisioned on the broker with seed ${o.seed}?`
            : ''
        }`,
      );
    }
  }, CONNECT_GRACE_MS);
}

/** Provisions the fleet and saves its contracts through the platform's api; a failure ends the run. */
async function setUp(o: SimCliOptions, machines: ReturnType<typeof createFleet>): Promise<ApiSetupResult> {
  const api = o.api!;
  const progress = startProgress({
    quiet: o.quiet,
    total: machines.length * 2,
    format: 'api {bar} {value}/{total} | {line}',
    payload: { line: `signing in to ${api.url}` },
  });
  const result = await setUpPlatform(api, machines, {
    seed: o.seed,
    onProgress: (done, _total, step) =>
      progress.update(done, { line: step === 'devices' ? 'provisioning devices' : 'saving contracts' }),
  }).catch((e: Error) => {
    progress.stop();
    return runFail('sim', e.message);
  });
  progress.stop();
  return result;
}

await main(parseSimArgs(process.argv.slice(2), process.env, Date.now()));
