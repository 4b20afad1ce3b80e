import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContractView } from '../../shared/api/contracts.ts';
import type { MachineCollection } from '../../shared/map.ts';
import { formatMoney, formatNumber } from '../../web/src/common/format.ts';
import type { RecoveryHandle } from '../../web/src/testHandle.ts';
import { type E2E, SKIP_BROWSER, startE2E } from '../support/browser.ts';
import { waitFor } from '../support/wait.ts';

const SIM_DEVICES = 20;

describe.skipIf(SKIP_BROWSER)('recovery agent in Chromium', () => {
  let e2e: E2E;
  let page: Page;
  let errors: string[];

  const rendered = () => page.evaluate(() => window.__recovery?.renderedMachineIds() ?? []);
  /** Screen position of a drawn machine, or null while it is not drawn. */
  const screenPoint = (deviceId: string) =>
    page.evaluate((id) => {
      const map = (window.__recovery as RecoveryHandle).map;
      const f = map.queryRenderedFeatures({ layers: ['machines'] }).find((x) => x.properties.deviceId === id);
      if (f?.geometry.type !== 'Point') return null;
      const p = map.project(f.geometry.coordinates as [number, number]);
      const box = map.getContainer().getBoundingClientRect();
      return { x: p.x + box.left, y: p.y + box.top };
    }, deviceId);

  beforeAll(async () => {
    e2e = await startE2E(SIM_DEVICES);
    // Wait until most of the fleet has reported, so there are stage-3 machines to find.
    await waitFor(
      async () => (await e2e.api<MachineCollection>('/api/map/machines')).features.length >= SIM_DEVICES / 2,
      {
        timeoutMs: 90_000,
        everyMs: 500,
        what: 'the simulated fleet to report',
      },
    );
    ({ page, errors } = await e2e.open());
    await e2e.signIn(page, 'agent');
  });

  afterAll(async () => {
    await e2e?.stop();
  });

  it('opens on the stage-3 machines; a click shows the contract figures from the API', async () => {
    const stage3 = (await e2e.api<MachineCollection>('/api/map/machines?minStage=3')).features;
    expect(stage3.length).toBeGreaterThan(0);
    expect(await page.getByTestId('stage-filter-3').getAttribute('aria-pressed')).toBe('true');
    await page.waitForFunction(
      (n) => (window.__recovery?.renderedMachineIds().length ?? 0) >= n,
      stage3.length,
      {
        timeout: 60_000,
        polling: 250,
      },
    );
    const ids = await rendered();
    const stageOf = new Map(stage3.map((f) => [f.properties.deviceId, f.properties.stage]));
    // Only stage-3 machines are drawn (a machine that reached stage 3 since the API call may join).
    const now3 = new Map(
      (await e2e.api<MachineCollection>('/api/map/machines?minStage=3')).features.map((f) => [
        f.properties.deviceId,
        3,
      ]),
    );
    for (const id of ids) expect(stageOf.get(id) ?? now3.get(id)).toBe(3);
    await e2e.shot(page, 'recovery-map-stage3.png');

    const target = stage3.find((f) => ids.includes(f.properties.deviceId))!;
    const deviceId = target.properties.deviceId;
    const at = await screenPoint(deviceId);
    expect(at).not.toBeNull();
    await page.mouse.click(at!.x, at!.y);
    const panel = page.getByTestId('machine-panel');
    await panel.waitFor({ timeout: 15_000 });
    const shownId = await panel.getAttribute('data-device-id');
    const shown = stage3.find((f) => f.properties.deviceId === shownId)!;
    expect(shown).toBeDefined();
    await page.getByTestId('panel-account').waitFor({ timeout: 15_000 });
    const contract = await e2e.api<ContractView>(`/api/contracts/${shown.properties.contractId}`, 'agent');
    expect(await page.getByTestId('panel-contract').textContent()).toBe(contract.number);
    expect(await page.getByTestId('panel-customer').textContent()).toBe(contract.customer.name);
    expect(await page.getByTestId('panel-overdue-amount').textContent()).toBe(
      formatMoney(contract.overdue.overdueAmount, 'en'),
    );
    expect(await page.getByTestId('panel-days-past-due').textContent()).toBe(
      formatNumber(contract.overdue.daysPastDue, 'en'),
    );
    expect(await page.getByTestId('panel-next-action').textContent()).toBe(contract.nextAction.text);
    expect(contract.overdue.stage).toBe(3);
    await page.getByTestId('engine-hours-chart').waitFor();
    expect(await page.getByTestId('engine-hours-chart').getAttribute('data-days')).toBe('30');
    expect(await page.getByTestId('health-last-seen').textContent()).not.toBe('—');
    await e2e.shot(page, 'recovery-machine-panel.png');
    expect(errors).toEqual([]);
  });

  it("shows only the chosen dealer's machines, then the chosen region's, without reloading the fleet", async () => {
    // Filters over the whole fleet: the desk, which sees every dealer (the agent sees its cases only).
    const { context, page: desk, errors: deskErrors } = await e2e.open();
    await e2e.signIn(desk, 'collector');
    await desk.getByTestId('nav-map').click();
    const rendered = () => desk.evaluate(() => window.__recovery?.renderedMachineIds() ?? []);
    await desk.getByTestId('stage-filter-0').click();
    await desk.waitForSelector('[data-testid=map-panel][data-machine-count]', { timeout: 30_000 });
    const fleet = (await e2e.api<MachineCollection>('/api/map/machines')).features;
    const perDealer = new Map<string, number>();
    for (const f of fleet) {
      const id = f.properties.dealerId;
      if (id !== null) perDealer.set(id, (perDealer.get(id) ?? 0) + 1);
    }
    // The dealer with the most machines: the filter must leave others out and keep several.
    const [dealerId] = [...perDealer].sort((a, b) => b[1] - a[1])[0]!;
    const province = fleet.find((f) => f.properties.dealerId === dealerId)!.properties.province!;
    const ids = (c: MachineCollection) => c.features.map((f) => f.properties.deviceId).sort();
    /** Waits until the map draws exactly the machines the API gives for `query` (a machine may
     * report for the first time meanwhile: both sides are read again until they agree). */
    const drawsExactly = (query: string) =>
      waitFor(
        async () => {
          const expected = ids(await e2e.api<MachineCollection>(`/api/map/machines${query}`));
          const drawn = (await rendered()).sort();
          return JSON.stringify(drawn) === JSON.stringify(expected) && expected.length > 0 ? expected : null;
        },
        { timeoutMs: 30_000, everyMs: 250, what: `the map to draw the machines of ${query}` },
      );

    const fleetRequests: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('/api/map/machines')) fleetRequests.push(r.url());
    };
    desk.on('request', onRequest);
    try {
      const option = desk.locator(`[data-testid=dealer-filter] option[value="${dealerId}"]`);
      expect(await option.textContent()).toContain(
        fleet.find((f) => f.properties.dealerId === dealerId)!.properties.dealer,
      );
      await desk.getByTestId('dealer-filter').selectOption(dealerId);
      const dealers = await drawsExactly(`?dealer=${encodeURIComponent(dealerId)}`);
      const byId = new Map(
        (await e2e.api<MachineCollection>('/api/map/machines')).features.map((f) => [
          f.properties.deviceId,
          f.properties,
        ]),
      );
      for (const id of dealers) expect(byId.get(id)?.dealerId).toBe(dealerId);
      // The store still holds the whole fleet: the filter is applied in the browser.
      expect(await desk.evaluate(() => window.__recovery?.machineCount() ?? 0)).toBeGreaterThan(
        dealers.length,
      );
      expect(await desk.getByTestId('map-panel').getAttribute('data-machine-count')).toBe(
        String(dealers.length),
      );
      await e2e.shot(page, 'recovery-map-dealer.png');

      // The dealer's region keeps the dealer; all dealers of the region then show that region.
      await desk.getByTestId('region-filter').selectOption(province);
      expect(await desk.getByTestId('dealer-filter').inputValue()).toBe(dealerId);
      await desk.getByTestId('dealer-filter').selectOption('');
      const region = await drawsExactly(`?province=${encodeURIComponent(province)}`);
      expect(region.length).toBeGreaterThanOrEqual(dealers.length);
      for (const id of region) expect(byId.get(id)?.province ?? province).toBe(province);
      await e2e.shot(page, 'recovery-map-region.png');

      await desk.getByTestId('region-filter').selectOption('');
      await drawsExactly('');
      expect(fleetRequests).toEqual([]);
    } finally {
      desk.off('request', onRequest);
    }
    expect(deskErrors).toEqual([]);
    await context.close();
  });

  it('lists the stage-3 machines nearest to the phone, and a tap shows one on the map', async () => {
    const stage3 = (await e2e.api<MachineCollection>('/api/map/machines?minStage=3')).features;
    const [lon, lat] = stage3[0]!.geometry.coordinates as [number, number];
    const here = { latitude: lat + 0.05, longitude: lon + 0.05 };
    const phone = await e2e.open({ geolocation: here });
    await e2e.signIn(phone.page, 'agent');
    await phone.page.getByTestId('nav-nearest').click();
    await phone.page.getByTestId('locate').click();
    const list = phone.page.getByTestId('nearest-list');
    await list.waitFor({ timeout: 15_000 });
    const expected = await e2e.api<{ deviceId: string }[]>(
      `/api/recovery/nearest?lat=${here.latitude}&lon=${here.longitude}&minStage=3&limit=50`,
      'agent',
    );
    const items = list.locator('li');
    expect(await items.count()).toBe(expected.length);
    await e2e.shot(phone.page, 'recovery-nearest.png');
    await items.first().locator('button').click();
    await phone.page.waitForSelector(
      `[data-testid=machine-panel][data-device-id="${expected[0]!.deviceId}"]`,
      {
        timeout: 30_000,
      },
    );
    expect(phone.errors).toEqual([]);
    await phone.context.close();
    expect(errors).toEqual([]); // the agent's map page, through all of the above
  });
});
