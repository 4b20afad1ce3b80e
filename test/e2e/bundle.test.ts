/**
 * Test-only code stays out of the production bundle: the browser tests' handle
 * (`window.__recovery`, web/src/testHandle.ts) is in their build (web/dist-test) and in no file of a
 * production build, made here the way `npm run build:web` makes it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_WEB_ROOT } from './build-web.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const scripts = (dir: string) =>
  readdirSync(join(dir, 'assets'))
    .filter((f) => /\.(m?js)$/.test(f))
    .map((f) => readFileSync(join(dir, 'assets', f), 'utf8'));

describe('the production web bundle', () => {
  const out = mkdtempSync(join(tmpdir(), 'rt-web-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('leaves the test handle out; the browser tests build has it', () => {
    const { VITE_TEST_HANDLE: _, ...inherited } = process.env;
    const env = { ...inherited, NODE_ENV: 'production' };
    execFileSync(
      'npx',
      ['vite', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn', '--outDir', out],
      {
        cwd: ROOT,
        env,
      },
    );
    const production = scripts(out);
    expect(production.length).toBeGreaterThan(0);
    expect(production.filter((js) => js.includes('__recovery'))).toEqual([]);
    expect(scripts(TEST_WEB_ROOT).some((js) => js.includes('__recovery'))).toBe(true);
  });
});
