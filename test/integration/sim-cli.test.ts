/**
 * The simulator commands run as a user runs them (spawned with tsx) against a broker: record and
 * replay round-trip a recording, load reports its rate, sim runs a fleet; each ends with a summary.
 * Output is piped here, as in CI, so no progress bar may appear; on a terminal (through `script`,
 * when installed) the bar is drawn.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseRecording } from '../../simulators/recording.ts';
import { listen, startBroker, type TestBroker, waitFor } from '../support/sim-broker.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = 'test/fixtures/sim-traffic.ndjson';
const fixture = parseRecording(readFileSync(join(ROOT, FIXTURE), 'utf8'));
const hasScript = existsSync('/usr/bin/script');

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(script: string, argv: string[]): { done: Promise<Ran>; kill(): void } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...argv], {
    cwd: ROOT,
    env: { ...process.env, MQTT_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<Ran>((resolve) =>
    child.once('close', (code) => resolve({ code, stdout, stderr })),
  );
  return { done, kill: () => child.kill('SIGTERM') };
}

/** Piped output carries no bar: no carriage returns, no terminal escapes. */
function expectPlain(r: Ran) {
  const all = r.stdout + r.stderr;
  expect(all.includes('\r') || all.includes('\u001b')).toBe(false);
}

let broker: TestBroker | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await broker?.close();
  broker = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('simulator commands against a broker', () => {
  it('record writes what replay (file given as an argument) publishes, in order, then both summarise', async () => {
    broker = await startBroker();
    const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    dirs.push(dir);
    const out = join(dir, 'heard.ndjson');
    let subscribed = false;
    broker.broker.on('subscribe', (subs) => {
      if (subs.some((s) => s.topic === 'devices/#')) subscribed = true;
    });
    const record = run('simulators/record.ts', ['--mqtt-url', broker.url, '--out', out]);
    await waitFor(() => subscribed, 15_000, 'the recorder to subscribe');

    const replay = await run('simulators/replay.ts', [FIXTURE, '--speed', 'max', '--mqtt-url', broker.url])
      .done;
    expect(replay.stderr).toBe('');
    expect(replay.code).toBe(0);
    expect(replay.stdout).toContain('Replay summary');
    expect(replay.stdout).toContain(`published   ${fixture.length} of ${fixture.length} messages`);
    expectPlain(replay);

    await waitFor(
      () => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > fixture.length,
      10_000,
      'the recording',
    );
    record.kill();
    const recorded = await record.done;
    expect(recorded.code).toBe(0);
    expect(recorded.stdout).toContain('Recording summary');
    expect(recorded.stdout).toContain(`messages    ${fixture.length} from ${broker.url}`);
    expectPlain(recorded);
    const heard = parseRecording(readFileSync(out, 'utf8'));
    expect(heard.map((m) => [m.topic, m.payload])).toEqual(fixture.map((m) => [m.topic, m.payload]));
  });

  it('replay still takes the recording as --file, and stops at --duration for record', async () => {
    broker = await startBroker();
    const dir = mkdtempSync(join(tmpdir(), 'sim-cli-'));
    dirs.push(dir);
    const platform = await listen(broker.url);
    const record = run('simulators/record.ts', [
      '--mqtt-url',
      broker.url,
      '--out',
      join(dir, 'r.ndjson'),
      '--duration',
      '1',
    ]);
    const replay = await run('simulators/replay.ts', [
      '--file',
      FIXTURE,
      '--speed',
      'max',
      '--mqtt-url',
      broker.url,
    ]).done;
    expect(replay.code).toBe(0);
    await waitFor(() => platform.heard.length >= fixture.length, 5000, 'the replayed messages');
    const recorded = await record.done;
    expect(recorded.code).toBe(0);
    expect(recorded.stdout).toContain('Recording summary');
    await platform.client.endAsync(true);
  });

  it('load reports the achieved publish rate in its summary, or as JSON', async () => {
    broker = await startBroker();
    const r = await run('simulators/load.ts', ['--devices', '5', '--duration', '1', '--mqtt-url', broker.url])
      .done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Load summary');
    const rate = /rate\s+([\d,]+) msg\/s achieved \(QoS 1, asked max\)/.exec(r.stdout);
    expect(rate, r.stdout).not.toBeNull();
    expect(Number(rate![1]!.replaceAll(',', ''))).toBeGreaterThan(0);
    expectPlain(r);

    const json = await run('simulators/load.ts', [
      '--devices',
      '5',
      '--duration',
      '1',
      '--rate',
      '50',
      '--qos',
      '0',
      '--json',
      '--mqtt-url',
      broker.url,
    ]).done;
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ connections: 5, failed: 0 });
  });

  it('sim runs a small fleet for --duration and prints its summary', async () => {
    broker = await startBroker();
    const r = await run('simulators/cli.ts', [
      '--devices',
      '3',
      '--speed',
      '60',
      '--no-story',
      '--duration',
      '2',
      '--mqtt-url',
      broker.url,
    ]).done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Simulation summary');
    expect(r.stdout).toMatch(/devices\s+3 \(3 connected at least once, seed 42\)/);
    expectPlain(r);
  });

  it.skipIf(!hasScript)('draws a progress bar on a terminal', async () => {
    broker = await startBroker();
    const command = `'${process.execPath}' --import tsx simulators/replay.ts ${FIXTURE} --speed max --mqtt-url ${broker.url}`;
    const out = await new Promise<string>((resolve, reject) => {
      // `script` gives the command a pseudo-terminal, as an interactive shell would.
      execFile('script', ['-qec', command, '/dev/null'], { cwd: ROOT, timeout: 30_000 }, (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
    });
    expect(out).toContain(`${fixture.length}/${fixture.length} messages`);
    expect(out).toContain('Replay summary');
  });
});
