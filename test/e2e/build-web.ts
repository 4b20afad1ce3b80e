/**
 * Builds the browser tests' web bundle once per test run, before any browser test starts: the
 * files run side by side and all serve the same bundle, and one left from an earlier build could be
 * older than the code under test. It goes to web/dist-test, with the test handle
 * (`window.__recovery`, web/src/testHandle.ts) that the production bundle in web/dist leaves out.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Where the browser tests' bundle goes; the platforms they start serve it. */
export const TEST_WEB_ROOT = fileURLToPath(new URL('../../web/dist-test/', import.meta.url));

export default function setup(): void {
  execFileSync(
    'npx',
    ['vite', 'build', '--config', 'web/vite.config.ts', '--logLevel', 'warn', '--outDir', TEST_WEB_ROOT],
    {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      stdio: 'inherit',
      // vitest sets NODE_ENV=test, which would give a development build of React.
      env: { ...process.env, NODE_ENV: 'production', VITE_TEST_HANDLE: '1' },
    },
  );
}
