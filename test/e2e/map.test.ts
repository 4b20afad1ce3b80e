/**
 * Browser smoke test of the recovery map: the whole platform (embedded broker and database,
 * ingest, api serving the tests' web build, a simulated fleet) and the built web app in headless Chromium.
 * It signs in as the demo recovery agent first, as a person would (who sees only the machines of
 * the cases it is sent to), then as the desk, and waits on facts — machines actually rendered by
 * MapLibre — never on sleeps.
 *
 * Needs Chromium at /usr/bin/chromium (or CHROMIUM_PATH). Without it the test is skipped with a
 * warning, unless REQUIRE_BROWSER=1, which makes a missing browser a failure (CI).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Platform, startPlatform } from '../../main.ts';
import type { MachineCollection } from '../../shared/map.ts';
import { createFleet, deviceIdFor, deviceTokenFor, seedTokenKey } from '../../simulators/fleet.ts';
import type { RecoveryHandle } from '../../web/src/testHandle.ts';
import { authHeader, loginAs, TEST_JWT_SECRET } from '../support/auth.ts';
import { forgetDevices, forgetSessions, runUnique } from '../support/broker-sessions.ts';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  gotoApp,
  HAVE_BROWSER,
  OUTPUT,
  REQUIRE_BROWSER,
  watchPage,
} from '../support/browser.ts';
import {
  realBroker,
  type ScratchDatabase,
  scratchDatabase,
  TEST_KEY_ENCRYPTION_KEY,
} from '../support/engines.ts';
import { demoSignIns } from '../support/platform.ts';
import { forgetRedisKeys, uniqueRedisPrefix } from '../support/redis.ts';
import { TEST_WEB_ROOT } from './build-web.ts';

const SIM_DEVICES = 20;
// Its own ingest session and share group, the session forgotten afterwards: a fixed id would stay
// in the broker's shared group after the run and take a share of later runs' messages, and the
// default group may hold such sessions from earlier runs.
const INGEST_CLIENT_ID = `ingest-e2e-${process.pid}-${Date.now()}`;
// Device ids of its own: other test files run fleets numbered SIM-000001… on the same broker.
const ID_PREFIX = runUnique('E2E');

if (!HAVE_BROWSER && !REQUIRE_BROWSER) {
  console.warn(
    `\n${'!'.repeat(78)}\n!! e2e map test SKIPPED: no Chromium at ${CHROMIUM}.\n` +
      `!! Install it (apt-get install chromium) or set CHROMIUM_PATH; REQUIRE_BROWSER=1 makes this a failure.\n${'!'.repeat(78)}\n`,
  );
}

describe.skipIf(!HAVE_BROWSER && !REQUIRE_BROWSER)('recovery map in Chromium', () => {
  let platform: Platform | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let url: string;
  let dataDir: string | undefined;
  let scratch: ScratchDatabase | undefined;
  let token: string;
  let pageErrors: string[] = [];
  /** The simulated boxes in coverage at start (the fleet model says which; see beforeAll). */
  let reporting: string[] = [];

  const api = async (path: string): Promise<MachineCollection> => {
    const res = await fetch(new URL(path, url), { headers: authHeader(token) });
    expect(res.status).toBe(200);
    return (await res.json()) as MachineCollection;
  };
  const rendered = () => page.evaluate(() => window.__recovery?.renderedMachineIds() ?? []);
  const panel = (attribute: string) => page.getAttribute('[data-testid=map-panel]', attribute);
  /** Waits until the map has drawn at least `n` machines; on timeout says what it saw instead. */
  const waitForRendered = async (n: number, timeout: number) => {
    try {
      await page.waitForFunction((min) => (window.__recovery?.renderedMachineIds().length ?? 0) >= min, n, {
        timeout,
        polling: 250,
      });
    } catch (e) {
      const seen = {
        rendered: (await rendered()).length,
        inApi: (await api('/api/map/machines')).features.length,
        panel: { count: await panel('data-machine-count'), connection: await panel('data-connection') },
        pageErrors,
      };
      throw new Error(`expected ${n} machines drawn; saw ${JSON.stringify(seen)}`, { cause: e });
    }
  };

  beforeAll(async () => {
    if (!HAVE_BROWSER) throw new Error(`REQUIRE_BROWSER=1 but there is no Chromium at ${CHROMIUM}`);
    if (!existsSync(join(TEST_WEB_ROOT, 'index.html'))) {
      throw new Error('no web/dist-test: the e2e project builds it once per run (test/e2e/build-web.ts)');
    }
    // Simulated boxes can start in a coverage gap and report hours later (SIM-000006 does on
    // mornings in Shanghai), or report without a fix while the GPS is lost, which puts nothing on
    // the map: the same model, seed and start say which boxes report a fix in the first minute,
    // so the test expects exactly those rather than all of them.
    const start = Date.now();
    reporting = createFleet({
      devices: SIM_DEVICES,
      seed: 42,
      idPrefix: ID_PREFIX,
      start,
      story: { departAt: start + 10 * 60_000 },
    })
      .filter((m) =>
        m
          .advance(start + 60_000)
          .some((e) => e.kind === 'telemetry' && [e.payload].flat().some((r) => r.fix === true)),
      )
      .map((m) => m.identity.deviceId);
    scratch = await scratchDatabase({ demoUsers: true });
    dataDir = scratch.dataDir ?? mkdtempSync(join(tmpdir(), 'recovery-e2e-'));
    platform = await startPlatform(
      {
        PORT: 0,
        MQTT_PORT: 0,
        SIM_DEVICES,
        SIM_SEED: 42,
        // Tokens this file can compute (forgetDevices below), asked for explicitly.
        SIM_TOKEN_KEY: seedTokenKey(42),
        SIM_ID_PREFIX: ID_PREFIX,
        DATA_DIR: dataDir,
        LOG_LEVEL: 'warn',
        DATABASE_URL: scratch.url,
        INGEST_CLIENT_ID,
        INGEST_SHARE_GROUP: INGEST_CLIENT_ID,
        // With REDIS_URL, a live map of its own: no other file's pushes in this browser.
        REDIS_KEY_PREFIX: uniqueRedisPrefix(),
        ...(scratch.url ? { JWT_SECRET: TEST_JWT_SECRET, KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY } : {}),
      },
      process.env,
      { webRoot: TEST_WEB_ROOT },
    );
    if (platform.url === null) throw new Error('the platform started without its api');
    url = platform.url;
    // On PostgreSQL the demo users exist only when asked for (npm run users -- demo).
    await demoSignIns(platform);
    token = (await loginAs(url, 'agent')).token;

    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    pageErrors = await watchPage(page);
    mkdirSync(OUTPUT, { recursive: true });
  });

  afterAll(async () => {
    await browser?.close();
    await platform?.stop();
    if (platform?.config.REDIS_URL) {
      await forgetRedisKeys(platform.config.REDIS_URL, platform.config.REDIS_KEY_PREFIX).catch(() => {});
    }
    if (realBroker) {
      await forgetSessions(realBroker, [INGEST_CLIENT_ID]);
      await forgetDevices(
        realBroker,
        Array.from({ length: SIM_DEVICES }, (_, i) => ({
          deviceId: deviceIdFor(i, ID_PREFIX),
          token: deviceTokenFor(seedTokenKey(42), deviceIdFor(i, ID_PREFIX)),
        })),
      );
    }
    await scratch?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('asks to sign in, says so when the password is wrong, then shows who is signed in', async () => {
    await gotoApp(page, url);
    const form = page.getByTestId('login-form');
    await form.waitFor({ timeout: 30_000 });
    await page.fill('input[name=username]', 'agent');
    await page.fill('input[name=password]', 'wrong');
    await page.click('button[type=submit]');
    await page.getByTestId('login-error').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('login-error').textContent()).toBe('Wrong username or password.');
    // The browser logs the refused POST itself; that one is expected.
    const refused = pageErrors.findIndex((e) => e.includes('401'));
    expect(refused).toBeGreaterThanOrEqual(0);
    pageErrors.splice(refused, 1);

    // Five failures lock a user name (known or not) for a while; the screen says for how long.
    await page.fill('input[name=username]', 'intruder');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      await page.fill('input[name=password]', `guess-${i}`);
      const [res] = await Promise.all([
        page.waitForResponse((r) => r.url().endsWith('/api/auth/login')),
        page.click('button[type=submit]'),
      ]);
      statuses.push(res.status());
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    await page.waitForFunction(
      () => document.querySelector('[data-testid=login-error]')?.textContent?.startsWith('Too many'),
      undefined,
      { timeout: 10_000 },
    );
    expect(await page.getByTestId('login-error').textContent()).toBe(
      'Too many failed sign-ins. Try again in 15 min.',
    );
    for (let k = pageErrors.length - 1; k >= 0; k--) {
      if (/\b(401|429)\b/.test(pageErrors[k]!)) pageErrors.splice(k, 1);
    }

    await page.fill('input[name=username]', 'agent');
    await page.fill('input[name=password]', 'demo');
    await page.click('button[type=submit]');
    await page.getByTestId('session-bar').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('session-bar').getAttribute('data-roles')).toBe('recovery_agent');
    expect(await page.getByTestId('session-user').textContent()).toContain('Wang Lei');
    await page.screenshot({ path: join(OUTPUT, 'map-signed-in.png') });
  });

  it("shows the agent the machines of its cases only, then the desk's whole fleet", async () => {
    // A recovery agent starts on the stage-3 machines; the demo sent it to the stage-3 cases.
    expect(await page.getByTestId('stage-filter-3').getAttribute('aria-pressed')).toBe('true');
    await page.getByTestId('stage-filter-0').click();
    const { rows } = await platform!.db.query<{ device_id: string }>(
      `select i.device_id from case_assignment a join contract c on c.id = a.contract_id
       join installation i on i.machine_id = c.machine_id and i.removed_at is null`,
    );
    const assigned = rows.map((r) => r.device_id);
    const expected = reporting.filter((id) => assigned.includes(id));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(reporting.length);
    await waitForRendered(expected.length, 90_000);
    const ids = await rendered();
    expect(ids.filter((id) => !assigned.includes(id))).toEqual([]);
    expect(expected.filter((id) => !ids.includes(id))).toEqual([]);
    expect((await api('/api/map/machines')).features.every((f) => f.properties.stage === 3)).toBe(true);
    await page.screenshot({ path: join(OUTPUT, 'map-agent.png') });

    // The rest of this file is about the map, not the scope: the desk, which sees every dealer.
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor({ timeout: 10_000 });
    await page.fill('input[name=username]', 'collector');
    await page.fill('input[name=password]', 'demo');
    await page.click('button[type=submit]');
    await page.getByTestId('session-bar').waitFor({ timeout: 10_000 });
    await page.getByTestId('nav-map').click(); // the desk lands on its accounts
    token = (await loginAs(url, 'collector')).token;
    expect(pageErrors).toEqual([]);
  });

  it('draws the simulated fleet on the offline basemap, live', async () => {
    // The desk starts on every stage.
    expect(await page.getByTestId('stage-filter-0').getAttribute('aria-pressed')).toBe('true');
    // Every simulated machine is in China, which the map fits at start: every box in coverage
    // must be drawn.
    await waitForRendered(reporting.length, 90_000);
    const ids = await rendered();
    const fleet = await api('/api/map/machines');
    expect(new Set(ids).size).toBe(ids.length);
    expect(reporting.filter((id) => !ids.includes(id))).toEqual([]);
    expect(ids.length).toBe(fleet.features.length);

    expect(Number(await panel('data-machine-count'))).toBe(fleet.features.length);
    expect(await panel('data-connection')).toBe('live');
    // The offline basemap is drawn (no MAP_STYLE_URL): land and borders from the bundle.
    const basemap = await page.evaluate(() => {
      const map = (window.__recovery as RecoveryHandle).map;
      return ['land', 'country-borders'].map((id) => map.queryRenderedFeatures({ layers: [id] }).length);
    });
    expect(basemap.every((n) => n > 0)).toBe(true);

    await page.screenshot({ path: join(OUTPUT, 'map-smoke.png') });
    expect(pageErrors).toEqual([]);
  });

  it('shows a machine in a popup when clicked', async () => {
    const target = await page.evaluate(() => {
      const map = (window.__recovery as RecoveryHandle).map;
      const [f] = map.queryRenderedFeatures({ layers: ['machines'] });
      if (f?.geometry.type !== 'Point') return null;
      const p = map.project(f.geometry.coordinates as [number, number]);
      const box = map.getContainer().getBoundingClientRect();
      return { x: p.x + box.left, y: p.y + box.top, deviceId: String(f.properties.deviceId) };
    });
    expect(target).not.toBeNull();
    await page.mouse.click(target!.x, target!.y);
    const card = page.getByTestId('machine-card');
    await card.waitFor({ timeout: 10_000 });
    // Machines near each other may overlap; whichever was on top, the card names a real one.
    const shown = await card.getAttribute('data-device-id');
    expect((await rendered()).includes(shown ?? '')).toBe(true);
    expect(await page.getByTestId('machine-last-seen').textContent()).not.toBe('—');
    await page.screenshot({ path: join(OUTPUT, 'map-popup.png') });
    expect(pageErrors).toEqual([]);
  });

  it('filters by minimum stage', async () => {
    const expected = (await api('/api/map/machines?minStage=2')).features.length;
    await page.getByTestId('stage-filter-2').click();
    await page.waitForFunction(
      (n) =>
        document.querySelector<HTMLElement>('[data-testid=map-panel]')?.dataset.machineCount === String(n) &&
        window.__recovery?.renderedMachineIds().length === n,
      expected,
      { timeout: 30_000, polling: 250 },
    );
    expect(await page.getByTestId('stage-filter-2').getAttribute('aria-pressed')).toBe('true');
    await page.getByTestId('stage-filter-0').click();
    await waitForRendered(reporting.length, 30_000);
    expect(pageErrors).toEqual([]);
  });

  it('logs out back to the login screen, and a reload stays signed out', async () => {
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor({ timeout: 10_000 });
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    expect(await page.evaluate(() => window.__recovery)).toBeUndefined();
    await page.reload();
    await page.getByTestId('login-form').waitFor({ timeout: 30_000 });
    expect(pageErrors).toEqual([]);
  });
});
