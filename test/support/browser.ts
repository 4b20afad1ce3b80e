/**
 * What the browser tests share: the whole platform as `npm start` runs it (embedded engines, or
 * the real ones when MQTT_URL / DATABASE_URL are set), headless Chromium with the flags that make
 * MapLibre draw under SwiftShader, signing in through the login form, and screenshots under
 * test-output/. Chromium at /usr/bin/chromium or CHROMIUM_PATH; without it the suites are skipped
 * with a warning, unless REQUIRE_BROWSER=1.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Platform, startPlatform } from '../../main.ts';
import { STORY_INDEX } from '../../simulators/fleet.ts';
import { deviceIdFor, deviceTokenFor, seedTokenKey } from '../../simulators/identity.ts';
import { TEST_WEB_ROOT } from '../e2e/build-web.ts';
import { authHeader, loginAs, TEST_JWT_SECRET } from './auth.ts';
import { forgetDevices, forgetSessions, runUnique } from './broker-sessions.ts';
import { realBroker, type ScratchDatabase, scratchDatabase, TEST_KEY_ENCRYPTION_KEY } from './engines.ts';
import { demoSignIns } from './platform.ts';
import { forgetRedisKeys, uniqueRedisPrefix } from './redis.ts';

const DEMO_SEED = 42;
// Tokens this file can compute, asked for explicitly: the platform's own default is random.
const DEMO_TOKEN_KEY = seedTokenKey(DEMO_SEED);
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const OUTPUT = join(ROOT, 'test-output');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAVE_BROWSER = existsSync(CHROMIUM);
export const REQUIRE_BROWSER = process.env.REQUIRE_BROWSER === '1';
export const SKIP_BROWSER = !HAVE_BROWSER && !REQUIRE_BROWSER;

if (SKIP_BROWSER) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! browser tests SKIPPED: no Chromium at ${CHROMIUM}.\n` +
      `!! Install it (apt-get install chromium) or set CHROMIUM_PATH; REQUIRE_BROWSER=1 makes this a failure.\n${'!'.repeat(78)}\n`,
  );
}

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-swiftshader',
  '--use-angle=swiftshader',
];

/**
 * Collects what goes wrong on a page: uncaught errors, console errors, and every Content Security
 * Policy violation (the page's own securitypolicyviolation event, reported as a console error), so
 * a test that expects no errors also fails on anything the api's policy blocked.
 */
export async function watchPage(page: Page): Promise<string[]> {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.stack ?? e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.effectiveDirective} blocked ${e.blockedURI || 'inline code'}`);
    });
  });
  return errors;
}

/** Opens the app and makes sure it runs under the api's Content-Security-Policy. */
export async function gotoApp(page: Page, url: string): Promise<void> {
  const response = await page.goto(url);
  const policy = response?.headers()['content-security-policy'];
  if (!policy?.includes("script-src 'self'")) {
    throw new Error(`the web app was served without its Content-Security-Policy (got ${policy ?? 'none'})`);
  }
}

export interface E2E {
  platform: Platform;
  url: string;
  /** The fleet's story machine: it leaves on a trailer ten minutes after start and goes dark. */
  storyDeviceId: string;
  browser: Browser;
  /** GET as a user (signed in once per username), JSON. */
  api<T>(path: string, as?: string): Promise<T>;
  /** POST as a user, JSON; throws on a non-2xx answer. */
  post<T>(path: string, body: unknown, as: string): Promise<T>;
  /**
   * A fresh browser context (its own sessionStorage: one person) on the app under its CSP, page
   * errors and CSP violations collected (watchPage).
   */
  open(options?: {
    locale?: string;
    geolocation?: { latitude: number; longitude: number };
  }): Promise<{ context: BrowserContext; page: Page; errors: string[] }>;
  /** Signs in through the login form and waits for the session bar. */
  signIn(page: Page, username: string): Promise<void>;
  shot(page: Page, name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startE2E(simDevices: number): Promise<E2E> {
  if (!HAVE_BROWSER) throw new Error(`REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
  if (!existsSync(join(TEST_WEB_ROOT, 'index.html'))) {
    throw new Error('no web/dist-test: the e2e project builds it once per run (test/e2e/build-web.ts)');
  }
  // Its own ingest session and share group, the session forgotten afterwards: on a real broker a
  // fixed id or group would let sessions left by earlier runs take a share of this run's messages.
  const ingestClientId = `ingest-e2e-${process.pid}-${Date.now()}`;
  // Its own device ids too: other test files run simulated fleets (SIM-000001, …) on the same
  // broker at the same time, whose reports would otherwise land in this platform's tracks.
  const idPrefix = runUnique('E2E');
  const boxes = Array.from({ length: simDevices }, (_, i) => ({
    deviceId: deviceIdFor(i, idPrefix),
    token: deviceTokenFor(DEMO_TOKEN_KEY, deviceIdFor(i, idPrefix)),
  }));
  const scratch: ScratchDatabase = await scratchDatabase({ demoUsers: true });
  const dataDir = scratch.dataDir ?? mkdtempSync(join(tmpdir(), 'recovery-e2e-'));
  const platform = await startPlatform(
    {
      PORT: 0,
      MQTT_PORT: 0,
      SIM_DEVICES: simDevices,
      SIM_SEED: DEMO_SEED,
      SIM_TOKEN_KEY: DEMO_TOKEN_KEY,
      SIM_ID_PREFIX: idPrefix,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      DATABASE_URL: scratch.url,
      INGEST_CLIENT_ID: ingestClientId,
      INGEST_SHARE_GROUP: ingestClientId,
      // With REDIS_URL, a live map of its own: no other file's pushes in this browser.
      REDIS_KEY_PREFIX: uniqueRedisPrefix(),
      ...(scratch.url ? { JWT_SECRET: TEST_JWT_SECRET, KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY } : {}),
    },
    process.env,
    { webRoot: TEST_WEB_ROOT },
  );
  if (platform.url === null) throw new Error('the platform started without its api');
  const url = platform.url;
  await demoSignIns(platform);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  mkdirSync(OUTPUT, { recursive: true });

  const tokens = new Map<string, string>();
  const tokenOf = async (username: string) => {
    let t = tokens.get(username);
    if (!t) {
      t = (await loginAs(url, username)).token;
      tokens.set(username, t);
    }
    return t;
  };
  const call = async <T>(method: string, path: string, as: string, body?: unknown): Promise<T> => {
    const res = await fetch(new URL(path, url), {
      method,
      headers: {
        ...authHeader(await tokenOf(as)),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} as ${as}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };

  return {
    platform,
    url,
    storyDeviceId: deviceIdFor(STORY_INDEX, idPrefix),
    browser,
    api: (path, as = 'admin') => call('GET', path, as),
    post: (path, body, as) => call('POST', path, as, body),
    async open(options = {}) {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 800 },
        locale: options.locale ?? 'en-US',
        timezoneId: 'Asia/Shanghai',
        acceptDownloads: true,
        ...(options.geolocation ? { geolocation: options.geolocation, permissions: ['geolocation'] } : {}),
      });
      const page = await context.newPage();
      const errors = await watchPage(page);
      await gotoApp(page, url);
      return { context, page, errors };
    },
    async signIn(page, username) {
      await page.getByTestId('login-form').waitFor({ timeout: 30_000 });
      await page.fill('input[name=username]', username);
      await page.fill('input[name=password]', 'demo');
      await page.click('button[type=submit]');
      await page.getByTestId('session-bar').waitFor({ timeout: 15_000 });
    },
    shot: async (page, name) => {
      await page.screenshot({ path: join(OUTPUT, name) });
    },
    async stop() {
      await browser.close().catch(() => {});
      await platform.stop();
      const { REDIS_URL, REDIS_KEY_PREFIX } = platform.config;
      if (REDIS_URL) await forgetRedisKeys(REDIS_URL, REDIS_KEY_PREFIX).catch(() => {});
      if (realBroker) {
        await forgetSessions(realBroker, [ingestClientId]);
        await forgetDevices(realBroker, boxes);
      }
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
