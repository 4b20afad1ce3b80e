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
      ['stray'],
    ]) {
      const parsed = run(...argv);
      expect(parsed.kind, argv.join(' ')).toBe('error');
      if (parsed.kind === 'error') expect(parsed.message.length).toBeGreaterThan(10);
    }
    expect(run('--help')).toEqual({ kind: 'help' });
  });
});
