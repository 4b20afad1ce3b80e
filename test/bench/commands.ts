/**
 * Command benchmark: how long from a risk manager's approval (the HTTP call) until the box has the
 * command and answers it, over many commands on loopback — through the real platform (api, policy,
 * dispatcher, broker with device authentication, the box firmware model).
 *   npm run bench:commands -- --count 1000 [--concurrency 8]
 * Engines as everywhere: MQTT_URL / DATABASE_URL, else embedded. Prints a table, then one JSON line
 * with count, p50Ms, p99Ms, lost. See docs/benchmarks.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { saveContracts } from '../../api/contracts/store.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import { startPlatform } from '../../main.ts';
import { buildSchedule } from '../../shared/schedule.ts';
import { SimDevice } from '../../simulators/device.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';
import { signedInAs, TEST_JWT_SECRET } from '../support/auth.ts';
import { forgetDevices, uniqueIngestIdentity } from '../support/broker-sessions.ts';
import { scratchDatabase } from '../support/engines.ts';

const USAGE = `Usage: npm run bench:commands -- [--count N] [--concurrency C]
  --count N         commands (and boxes: one live immobilize per machine), default 1000
  --concurrency C   approvals in flight at once, default 8
Env: MQTT_URL, DATABASE_URL (a scratch database is created and dropped); else embedded.
`;

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '8' },
    help: { type: 'boolean' },
  },
});
if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const count = Number(values.count);
const concurrency = Number(values.concurrency);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  process.stderr.write(`bench:commands: --count and --concurrency must be whole numbers above 0\n${USAGE}`);
  process.exit(2);
}
const log = (line: string) => process.stderr.write(`${line}\n`);
const DAY = 86_400_000;

const scratch = await scratchDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'bench-commands-'));
const ingest = uniqueIngestIdentity('bench-commands');
const platform = await startPlatform({
  PORT: 0,
  MQTT_PORT: 0,
  SIM_DEVICES: 0,
  LOG_LEVEL: 'warn',
  DATA_DIR: dataDir,
  DATABASE_URL: scratch.url,
  INGEST_CLIENT_ID: ingest.clientId,
  INGEST_SHARE_GROUP: ingest.shareGroup,
  ...(scratch.url ? { JWT_SECRET: TEST_JWT_SECRET } : {}),
});
const engine = `${platform.config.MQTT_URL ? 'mosquitto' : 'aedes'}+${platform.db.engine}`;
const url = platform.url as string;
const boxes: {
  deviceId: string;
  token: string;
  device: SimDevice;
  firmware: BoxFirmware;
  ackAt: Map<string, number>;
}[] = [];

try {
  log(`setting up ${count} machines on stage-3 contracts with warnings served (${engine})…`);
  const today = new Date().toISOString().slice(0, 10);
  const ids = Array.from({ length: count }, (_, i) => `BCH-${String(i).padStart(6, '0')}`);
  await provisionDevices(
    platform.db,
    ids.map((deviceId, i) => ({
      deviceId,
      token: `bench-token-${i}`.padEnd(32, '0'),
      machine: {
        id: `M-${deviceId}`,
        make: 'Sany',
        model: 'SY215C',
        type: 'excavator',
        serial: `P-${deviceId}`,
        year: 2023,
      },
    })),
  );
  const instalments = buildSchedule({
    principal: 3_600_000,
    downPayment: 0,
    annualRateBp: 0,
    termMonths: 36,
    firstDueDate: '2024-02-01',
  });
  await saveContracts(
    platform.db,
    ids.map((deviceId) => ({
      id: `C-${deviceId}`,
      number: `N-${deviceId}`,
      machineId: `M-${deviceId}`,
      kind: 'loan',
      currency: 'CNY',
      customer: { id: `CU-${deviceId}`, name: 'bench', phone: null, nationalId: null, homeAddress: null },
      guarantors: [],
      dealer: null,
      principal: 3_600_000,
      downPayment: 0,
      annualRateBp: 0,
      termMonths: 36,
      startDate: '2024-01-01',
      penaltyRateBp: 0,
      graceDays: 0,
      timeZone: 'Asia/Shanghai',
      instalments,
      payments: [],
    })),
    today,
  );
  const warnedAt = new Date(Date.now() - 4 * DAY).toISOString();
  await platform.db.query(
    `insert into activity (contract_id, kind, actor, occurred_at, recorded_at, channel, body)
     select 'C-' || d, 'gps_stop_warning', 'bench', $2, $2, ch, 'bench warning'
     from unnest($1::text[]) as d, unnest(array['sms', 'letter']) as ch`,
    [ids, warnedAt],
  );

  for (const [i, deviceId] of ids.entries()) {
    const token = `bench-token-${i}`.padEnd(32, '0');
    const firmware = new BoxFirmware(deviceId, token);
    const ackAt = new Map<string, number>();
    const device = new SimDevice({
      deviceId,
      token,
      mqttUrl: platform.mqttUrl,
      onCommand: (command) => {
        const ack = firmware.onCommand(command, Date.now());
        if (!ackAt.has(command.id)) ackAt.set(command.id, performance.now());
        return ack;
      },
    });
    boxes.push({ deviceId, token, device, firmware, ackAt });
  }
  for (let i = 0; i < boxes.length; i += 100) {
    const batch = boxes.slice(i, i + 100);
    for (const b of batch) b.device.start();
    while (batch.some((b) => b.device.stats().connects === 0)) await new Promise((r) => setTimeout(r, 20));
  }
  // Each box reports one parked fix (the policy wants a box heard from recently), a hundred at a
  // time: a plain Mosquitto queues at most 1,000 messages for ingest's session beyond 20 in flight
  // (its defaults; deploy/mosquitto raises them), the boxes' retained statuses included, and drops
  // the rest.
  const positions = async () =>
    (await platform.db.query<{ n: number }>('select count(*)::int as n from latest_position')).rows[0]!.n;
  for (let i = 0; i < boxes.length; i += 100) {
    for (const b of boxes.slice(i, i + 100)) {
      b.device.publishTelemetry(
        b.firmware.report({ v: 1, ts: Date.now(), lat: 34.2, lon: 117.2, fix: true, ign: false, spd: 0 }),
      );
    }
    const want = Math.min(boxes.length, i + 100);
    const deadline = Date.now() + 60_000;
    while ((await positions()) < want) {
      if (Date.now() > deadline) {
        throw new Error(`only ${await positions()} of ${want} boxes' reports reached the database in 60 s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const risk1 = await signedInAs(url, platform.db, 'risk_manager');
  const risk2 = await signedInAs(url, platform.db, 'risk_manager');
  const post = async (token: string, path: string, body: unknown) => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = (await res.json()) as { id: string; state: string; message?: string };
    if (!res.ok) throw new Error(`${path}: ${res.status} ${json.message}`);
    return json;
  };
  log(`requesting ${count} immobilizes…`);
  const commandOf = new Map<string, string>();
  for (const b of boxes) {
    const c = await post(risk1.token, '/api/commands', {
      deviceId: b.deviceId,
      type: 'immobilize',
      reason: 'bench',
    });
    commandOf.set(b.deviceId, c.id);
  }

  log(`approving them, ${concurrency} at a time, and timing approve → the box's answer…`);
  const approveAt = new Map<string, number>();
  let next = 0;
  const wallStart = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < boxes.length) {
        const b = boxes[next++]!;
        const id = commandOf.get(b.deviceId)!;
        approveAt.set(id, performance.now());
        await post(risk2.token, `/api/commands/${id}/approve`, { note: 'bench' });
      }
    }),
  );
  const deadline = performance.now() + 30_000;
  const answered = () => boxes.filter((b) => b.ackAt.has(commandOf.get(b.deviceId)!)).length;
  while (answered() < count && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const wallMs = performance.now() - wallStart;

  const latencies = boxes
    .map((b) => {
      const id = commandOf.get(b.deviceId)!;
      const at = b.ackAt.get(id);
      return at === undefined ? null : at - approveAt.get(id)!;
    })
    .filter((x): x is number => x !== null)
    .sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
  const lost = count - latencies.length;
  const { rows: states } = await platform.db.query<{ state: string; n: number }>(
    `select state, count(*)::int as n from command group by state order by state`,
  );
  const r = (n: number) => Math.round(n * 10) / 10;
  const result = {
    bench: 'commands',
    engine,
    count,
    concurrency,
    p50Ms: r(pct(0.5)),
    p90Ms: r(pct(0.9)),
    p99Ms: r(pct(0.99)),
    maxMs: r(latencies.at(-1) ?? 0),
    lost,
    wallSeconds: r(wallMs / 1000),
    states: Object.fromEntries(states.map((s) => [s.state, s.n])),
  };
  process.stdout.write(
    [
      '',
      `approve → box answer, ${count} commands, ${concurrency} approvals in flight, ${engine}`,
      `  p50 ${result.p50Ms} ms   p90 ${result.p90Ms} ms   p99 ${result.p99Ms} ms   max ${result.maxMs} ms`,
      `  answered ${latencies.length} of ${count} (lost ${lost}) in ${result.wallSeconds} s`,
      `  command states: ${states.map((s) => `${s.state} ${s.n}`).join(', ')}`,
      '',
      JSON.stringify(result),
      '',
    ].join('\n'),
  );
} finally {
  await Promise.all(boxes.map((b) => b.device.stop().catch(() => {})));
  // On a real broker the boxes' sessions and retained statuses would stay for every later run.
  await forgetDevices(platform.mqttUrl, boxes).catch(() => {});
  await platform.stop();
  await scratch.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
