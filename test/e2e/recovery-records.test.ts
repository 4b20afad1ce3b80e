/**
 * The recovery agent's records in Chromium: a parked machine's trail plays back on the map and
 * exports as GPX, KML and GeoJSON that parse; the open alerts the API lists are listed, and the
 * auditor sees the verified chain; the UI speaks Chinese when switched and when the browser is
 * Chinese. The machine is the test's own (a parked box with an hour of GPS scatter), so no fleet is
 * needed; the map itself is tested in recovery.test.ts.
 */
import { readFileSync } from 'node:fs';
import { check } from '@placemarkio/check-geojson';
import { gpx, kml } from '@tmcw/togeojson';
import { distance } from '@turf/turf';
import { DOMParser } from '@xmldom/xmldom';
import type { FeatureCollection } from 'geojson';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecoveryHandle } from '../../web/src/testHandle.ts';
import { type E2E, SKIP_BROWSER, startE2E } from '../support/browser.ts';
import { type CommandDesk, openCommandDesk } from '../support/command-desk.ts';
import { waitFor } from '../support/wait.ts';

describe.skipIf(SKIP_BROWSER)('recovery records in Chromium', () => {
  let e2e: E2E;
  let page: Page;
  let errors: string[];
  let trailDesk: CommandDesk;

  beforeAll(async () => {
    e2e = await startE2E(0);
    trailDesk = await openCommandDesk(
      { url: e2e.url, db: e2e.platform.db, mqttUrl: e2e.platform.mqttUrl },
      { admin: 'admin', collector: 'collector' },
      `TR${process.pid}${Date.now() % 100_000}`,
    );
    ({ page, errors } = await e2e.open());
    await e2e.signIn(page, 'agent');
  });

  afterAll(async () => {
    await trailDesk?.close();
    await e2e?.stop();
  });

  it('plays a trail back on the map and exports it as GPX, KML and GeoJSON that parse', async () => {
    type Track = { features: { geometry: { type: string; coordinates: unknown[] } }[] };
    const lastDayTrack = (deviceId: string) => {
      // What the panel asks for by default: the last 24 hours, to the next minute.
      const range = new URLSearchParams({
        from: new Date(Date.now() - 24 * 3_600_000).toISOString(),
        to: new Date(Date.now() + 60_000).toISOString(),
      });
      return e2e.api<Track>(`/api/devices/${deviceId}/track?${range}`);
    };
    const lineOf = (track: Track) =>
      (track.features.find((x) => x.geometry.type === 'LineString')?.geometry.coordinates ?? []) as [
        number,
        number,
      ][];
    const fixCount = (track: Track) => lineOf(track).length;
    // A parked machine's trail: an hour of reports a metre or two apart, GPS scatter that a
    // simplifying map would drop from view (it did once). The box is the test's own, so the trail
    // is there at once instead of after a parked fleet box's next reports, 5-10 minutes apart.
    const box = await trailDesk.stage3Box(1, { warned: false });
    // The box has sat on the machine since yesterday (an agent sees only the fixes a box took on a
    // machine of its cases), and the agent is sent to the case, like the demo's own stage-3 cases.
    await e2e.platform.db.query(
      `update installation set installed_at = now() - interval '1 day' where device_id = $1`,
      [box.deviceId],
    );
    await e2e.post(
      `/api/contracts/${box.contractId}/assignments`,
      {
        agent: 'agent',
        until: new Date(Date.now() + 86_400_000).toISOString(),
        reason: 'find the parked machine',
      },
      'risk1',
    );
    box.device.start();
    const hourAgo = Date.now() - 3_600_000;
    const scatter = [0, 1, -1, 2, 0, 1, 1];
    const backlog = scatter.map((d, i) => ({
      v: 1 as const,
      ts: hourAgo + i * 10 * 60_000,
      lat: 30.5928 + d * 0.00001,
      lon: 114.3055 + (i % 2) * 0.00001,
      fix: true,
      ign: false,
      spd: 0,
    }));
    box.device.publishTelemetry(backlog.reverse()); // a backlog is sent newest first
    const withTrail = box.deviceId;
    await waitFor(async () => fixCount(await lastDayTrack(withTrail)) === scatter.length, {
      timeoutMs: 30_000,
      what: "the parked box's trail",
    });
    const line = lineOf(await lastDayTrack(withTrail));
    const metres = distance(line[0]!, line.at(-1)!, { units: 'meters' });
    expect(metres).toBeGreaterThan(0); // the ends differ, so the playback marker moves
    expect(metres).toBeLessThan(10);
    // A page whose clock says the panel was opened five minutes ago and left open: "Show trail"
    // must still ask for the fixes up to now, not up to when the panel opened.
    const trail = await e2e.open();
    const tab = trail.page;
    await tab.clock.setFixedTime(Date.now() - 5 * 60_000);
    await e2e.signIn(tab, 'agent');
    await tab.getByTestId('stage-filter-0').click();
    await tab.evaluate((id) => {
      window.location.hash = `#/map/${id}`;
    }, withTrail);
    await tab.waitForSelector(`[data-testid=machine-panel][data-device-id="${withTrail}"]`, {
      timeout: 30_000,
    });
    await tab.clock.setFixedTime(Date.now());
    const expected = fixCount(await lastDayTrack(withTrail));
    await tab.getByTestId('show-trail').click();
    const playback = tab.getByTestId('playback');
    await playback.waitFor({ timeout: 15_000 });
    // The fleet goes on reporting: the panel may have one or two more than the API a moment before.
    expect(Number(await playback.getAttribute('data-fixes'))).toBeGreaterThanOrEqual(expected);
    const drawn = () =>
      tab.evaluate(() => {
        const map = (window.__recovery as RecoveryHandle).map;
        return {
          line: map.queryRenderedFeatures({ layers: ['trail-line'] }).length,
          marker: map
            .queryRenderedFeatures({ layers: ['trail-playback'] })
            .map((f) => (f.geometry.type === 'Point' ? f.geometry.coordinates : null))[0],
        };
      });
    await tab.waitForFunction(
      () =>
        (window.__recovery as RecoveryHandle).map.queryRenderedFeatures({ layers: ['trail-line'] }).length >
        0,
      undefined,
      { timeout: 15_000, polling: 250 },
    );
    const start = (await drawn()).marker;
    // Drag the playback to the end: the marker moves along the trail.
    const slider = tab.getByTestId('playback-slider');
    const max = await slider.getAttribute('max');
    await slider.fill(max!);
    await tab.waitForFunction(
      (before) => {
        const map = (window.__recovery as RecoveryHandle).map;
        const f = map.queryRenderedFeatures({ layers: ['trail-playback'] })[0];
        return (
          f?.geometry.type === 'Point' && JSON.stringify(f.geometry.coordinates) !== JSON.stringify(before)
        );
      },
      start,
      { timeout: 15_000, polling: 250 },
    );
    await e2e.shot(tab, 'recovery-trail-playback.png');

    const downloaded = async (format: string) => {
      const [download] = await Promise.all([
        tab.waitForEvent('download'),
        tab.getByTestId(`export-${format}`).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`${withTrail}-track.${format}`);
      return readFileSync((await download.path())!, 'utf8');
    };
    const fromGpx = gpx(
      new DOMParser().parseFromString(await downloaded('gpx'), 'text/xml') as unknown as Document,
    );
    const gpxLine = fromGpx.features.find((f) => f.geometry?.type === 'LineString');
    expect(gpxLine).toBeDefined();
    expect((gpxLine!.geometry as { coordinates: unknown[] }).coordinates.length).toBeGreaterThanOrEqual(
      expected,
    );
    const fromKml = kml(
      new DOMParser().parseFromString(await downloaded('kml'), 'text/xml') as unknown as Document,
    );
    expect(fromKml.features.some((f) => f.geometry?.type === 'LineString')).toBe(true);
    const geojson = check(await downloaded('geojson')) as FeatureCollection;
    expect(geojson.features.some((f) => f.geometry?.type === 'LineString')).toBe(true);
    expect(trail.errors).toEqual([]);
    await trail.context.close();
  });

  it('lists the open alerts the API lists, and shows the auditor the verified chain', async () => {
    await page.getByTestId('nav-alerts').click();
    await page.getByTestId('alerts-page').waitFor();
    const open = await e2e.api<{ id: string }[]>('/api/alerts?status=open', 'agent');
    await page.waitForFunction(
      (n) => document.querySelectorAll('[data-testid=alert-row]').length >= n,
      open.length,
      { timeout: 15_000 },
    );
    const rows = await page
      .locator('[data-testid=alert-row]')
      .evaluateAll((els) => els.map((e) => e.getAttribute('data-alert-id')));
    for (const a of open) expect(rows).toContain(a.id);
    await e2e.shot(page, 'recovery-alerts.png');
    await page.getByTestId('nav-map').click();

    const auditor = await e2e.open();
    await e2e.signIn(auditor.page, 'auditor');
    const status = auditor.page.getByTestId('audit-status');
    await status.waitFor({ timeout: 15_000 });
    const verified = await e2e.api<{ ok: boolean; count: number }>('/api/audit/verify', 'auditor');
    expect(verified.ok).toBe(true);
    expect(await status.getAttribute('data-ok')).toBe('true');
    // The auditor reads; no GPS stop, no approvals, no recording.
    expect(await auditor.page.getByTestId('nav-approvals').count()).toBe(0);
    await e2e.shot(auditor.page, 'audit-verified.png');
    expect(auditor.errors).toEqual([]);
    await auditor.context.close();
  });

  it('speaks Chinese when switched, and when the browser is Chinese', async () => {
    await page.getByTestId('language-switch').selectOption('zh-CN');
    await page.waitForFunction(() => document.querySelector('[data-testid=nav-map]')?.textContent === '地图');
    expect(await page.locator('.map-panel h1').textContent()).toBe('回收地图');
    expect(await page.getByTestId('machine-count').textContent()).toMatch(/^显示 [\d,]+ 台设备$/);
    expect(await page.getByTestId('logout').textContent()).toBe('退出');
    await e2e.shot(page, 'recovery-zh-CN.png');
    await page.getByTestId('language-switch').selectOption('en');

    const zh = await e2e.open({ locale: 'zh-CN' });
    await zh.page.getByTestId('login-form').waitFor({ timeout: 30_000 });
    expect(await zh.page.locator('button[type=submit]').textContent()).toBe('登录');
    await e2e.signIn(zh.page, 'risk1');
    await zh.page.getByTestId('accounts-page').waitFor({ timeout: 15_000 });
    await zh.page.getByTestId('account-row').first().waitFor({ timeout: 15_000 });
    expect(await zh.page.locator('.accounts h1').textContent()).toBe('账户');
    // Money in the Chinese format: ¥ with grouping and two decimals.
    expect(await zh.page.locator('[data-testid=account-row] td.num').first().textContent()).toMatch(
      /^¥[\d,]+\.\d{2}$/,
    );
    await e2e.shot(zh.page, 'console-accounts-zh-CN.png');
    expect(zh.errors).toEqual([]);
    await zh.context.close();
    expect(errors).toEqual([]);
  });
});
