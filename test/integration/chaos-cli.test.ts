/**
 * `npm run chaos`'s command line: a bad option is refused before anything starts, with exit 2 and
 * a message naming it, and --help prints the usage.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { root } from '../support/compose.ts';

const chaos = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'test/chaos/run.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
  });

describe('npm run chaos, command line', () => {
  it.each([
    [['--rate', '0'], '--rate must be'],
    [['--duration', '5'], '--duration must be whole seconds, at least 20'],
    [['--pg-stop', 'kill'], '--pg-stop must be fast or immediate'],
    [['--faults', 'ingest-kill,meteor'], '--faults: unknown meteor'],
    [['--frobnicate'], "Unknown option '--frobnicate'"],
  ])('refuses %j with exit 2 and says why', (args, message) => {
    const r = chaos(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('Usage: npm run chaos');
    expect(r.stdout).toBe('');
  });

  it('prints the usage for --help', () => {
    const r = chaos('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('--rate R');
  });
});
