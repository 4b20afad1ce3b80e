import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseSimArgs } from '../../simulators/cli-args.ts';

const NOW = Date.UTC(2026, 10, 28, 6, 0, 0);
const run = (...argv: string[]) => parseSimArgs(argv, {}, NOW);

describe('sim command line', () => {
  it('has sensible defaults: 200 devices, live speed, starting now', () => {
    expect(run()).toEqual({
      kind: 'run',
      options: {
        devices: 200,
        speed: 1,
        seed: 42,
        idPrefix: 'SIM',
        mqttUrl: 'mqtt://localhost:1883',
        start: NOW,
        durationS: null,
        protocolVersion: 4,
        storyDepartAt: null,
        truthFile: null,
        quiet: false,
      },
    });
  });

  it('starts a week back when running faster than real time', () => {
    const parsed = run(
      '--devices',
      '500',
      '--speed',
      '60',
      '--seed',
      '7',
      '--mqtt-url',
      'mqtt://broker:1883',
    );
    expect(parsed).toMatchObject({
      kind: 'run',
      options: { devices: 500, speed: 60, seed: 7, start: NOW - 7 * 86_400_000 },
    });
  });

  it('reads --start as ISO, now or a relative offset', () => {
    expect(run('--start', '12h')).toMatchObject({ options: { start: NOW - 12 * 3_600_000 } });
    expect(run('--start=-30m')).toMatchObject({ options: { start: NOW - 30 * 60_000 } });
    expect(run('--start', '2d ago')).toMatchObject({ options: { start: NOW - 2 * 86_400_000 } });
    expect(run('--start', 'yesterday')).toMatchObject({ kind: 'error' });
    expect(run('--start', '2026-11-01T00:00:00Z')).toMatchObject({
      options: { start: Date.UTC(2026, 10, 1) },
    });
    expect(run('--start', 'now', '--speed', '10')).toMatchObject({ options: { start: NOW } });
    expect(run('--start', '2027-01-01T00:00:00Z')).toMatchObject({ kind: 'error' });
  });

  it('numbers the boxes under --id-prefix', () => {
    expect(run('--id-prefix', 'site-b')).toMatchObject({ kind: 'run', options: { idPrefix: 'site-b' } });
  });

  it('takes the broker from MQTT_URL when not given', () => {
    expect(parseSimArgs([], { MQTT_URL: 'mqtts://example.com' }, NOW)).toMatchObject({
      options: { mqttUrl: 'mqtts://example.com' },
    });
  });

  it('schedules or cancels the story', () => {
    expect(run('--story-in', '10')).toMatchObject({ options: { storyDepartAt: NOW + 600_000 } });
    expect(run('--no-story')).toMatchObject({ options: { storyDepartAt: false } });
    expect(run('--no-story', '--story-in', '5')).toMatchObject({ kind: 'error' });
  });

  it('explains bad options instead of guessing', () => {
    for (const argv of [
      ['--bogus'],
      ['--devices', 'many'],
      ['--devices', '-3'],
      ['--speed', '0'],
      ['--protocol', '3'],
      ['--mqtt-url', 'http://x'],
      ['--mqtt-url', 'not a url'],
      ['--duration', '-1'],
      ['--id-prefix', 'a/b'],
      ['--id-prefix', '-x'],
      ['stray'],
    ]) {
      const parsed = run(...argv);
      expect(parsed.kind, argv.join(' ')).toBe('error');
      if (parsed.kind === 'error') expect(parsed.message.length).toBeGreaterThan(10);
    }
    expect(run('--help')).toEqual({ kind: 'help' });
  });
});

// --- the commands themselves, spawned as a user runs them -----------------------------------------

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIS = {
  sim: 'simulators/cli.ts',
  load: 'simulators/load.ts',
  replay: 'simulators/replay.ts',
  record: 'simulators/record.ts',
} as const;
type Cli = keyof typeof CLIS;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(cli: Cli, ...argv: string[]): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', CLIS[cli], ...argv],
      { cwd: ROOT, timeout: 30_000, env: { ...process.env, MQTT_URL: '' } },
      (error, stdout, stderr) => {
        const code = error ? ((error as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

/** A broker URL nothing listens on: port 1 on the loopback refuses at once. */
const DEAD_BROKER = 'mqtt://127.0.0.1:1';

describe.concurrent('simulator commands', { timeout: 30_000 }, () => {
  it.each(Object.keys(CLIS) as Cli[])('%s --help prints the usage and exits 0', async (cli) => {
    const r = await runCli(cli, '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: npm run ${cli} --`));
    expect(r.stdout).toContain('--mqtt-url');
    expect(r.stderr).toBe('');
  });

  it.each([
    ['sim', ['--bogus'], '--bogus'],
    ['sim', ['--speed', '0'], '--speed'],
    ['load', ['--rate', 'fast'], '--rate'],
    ['load', ['--qos', '2'], '--qos'],
    ['load', ['--devices', '0'], '--devices'],
    ['load', ['--mqtt-url', 'http://x'], '--mqtt-url'],
    ['replay', ['--speed', '-1', 'x.ndjson'], '--speed'],
    ['replay', ['--nope'], '--nope'],
    ['replay', [], 'recording file'],
    ['record', ['--out', 'x.ndjson', '--duration', 'soon'], '--duration'],
    ['record', ['--out', 'x.ndjson', '--topic', 'devices/#/x'], '--topic'],
    ['record', [], '--out'],
  ] as [Cli, string[], string][])(
    '%s %j exits 2 with one line naming the option',
    async (cli, argv, names) => {
      const r = await runCli(cli, ...argv);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^${cli}: `));
      expect(lines[0]).toContain(names);
    },
  );

  it.each([
    ['sim', ['--duration', '60']],
    ['load', ['--duration', '60']],
    ['replay', ['test/fixtures/sim-traffic.ndjson']],
    ['record', ['--out', 'never-written.ndjson']],
  ] as [Cli, string[]][])('%s fails at once on an unreachable broker, naming the URL', async (cli, argv) => {
    const r = await runCli(cli, ...argv, '--mqtt-url', DEAD_BROKER);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach the broker at ${DEAD_BROKER}`);
    expect(r.stderr).toContain('ECONNREFUSED');
    expect(existsSync(join(ROOT, 'never-written.ndjson'))).toBe(false);
  });

  it('replay names a recording it cannot read', async () => {
    const r = await runCli('replay', 'test/fixtures/no-such-recording.ndjson', '--mqtt-url', DEAD_BROKER);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('replay: test/fixtures/no-such-recording.ndjson: no such file\n');
  });
});
