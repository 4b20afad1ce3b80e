/**
 * GPS stop in Chromium, two people: risk manager A requests it on a case file and sees the policy's
 * evaluation in plain words; risk manager B approves it from the approvals queue; A's case file
 * follows the command live to EXECUTED as the box (simulators/firmware.ts) arms its starter
 * interrupt and reports the relay engaged. The policy's warning (two channels, 72 h before) is
 * recorded through the API with a past occurredAt, as a collector would have.
 *
 * The box is the test's own, already where the walk-through needs it: a machine on a stage-3 loan,
 * parked with the ignition off, reporting every two seconds (a fleet machine would report every 5-10
 * minutes while parked, and EXECUTED needs the report after the relay engaged).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommandView } from '../../shared/api/commands.ts';
import type { ContractView } from '../../shared/api/contracts.ts';
import type { MachineCollection } from '../../shared/map.ts';
import { type E2E, SKIP_BROWSER, startE2E } from '../support/browser.ts';
import { type CommandDesk, type DeskBox, openCommandDesk } from '../support/command-desk.ts';
import { waitFor } from '../support/wait.ts';

const REPORT_EVERY_MS = 2000;

describe.skipIf(SKIP_BROWSER)('GPS stop in Chromium', () => {
  let e2e: E2E;
  let desk: CommandDesk;
  let box: DeskBox;
  let reporting: NodeJS.Timeout | undefined;
  let contract: ContractView;

  beforeAll(async () => {
    e2e = await startE2E(0);
    desk = await openCommandDesk(
      { url: e2e.url, db: e2e.platform.db, mqttUrl: e2e.platform.mqttUrl },
      { admin: 'admin', collector: 'collector' },
      `GS${process.pid}${Date.now() % 100_000}`,
    );
    // Warned by SMS and phone four days ago (history: a warning recorded now counts 72 h from now).
    box = await desk.stage3Box(1, { warned: ['sms', 'phone'] });
    box.device.start();
    // Parked with the ignition off; the firmware turns each report into what the box would say.
    const parked = () =>
      box.device.publishTelemetry(
        box.firmware.report({ v: 1, ts: Date.now(), lat: 30.59, lon: 114.3, fix: true, ign: false, spd: 0 }),
      );
    parked();
    reporting = setInterval(parked, REPORT_EVERY_MS);
    await waitFor(
      async () =>
        (await e2e.platform.db.query('select 1 from latest_position where device_id = $1', [box.deviceId]))
          .rows.length > 0,
      { timeoutMs: 30_000, what: 'the box on the map' },
    );
    contract = await e2e.api<ContractView>(`/api/contracts/${box.contractId}`);
  });

  afterAll(async () => {
    clearInterval(reporting);
    await desk?.close();
    await e2e?.stop();
  });

  it('A requests, B approves, the box obeys: EXECUTED shows live', { timeout: 120_000 }, async () => {
    const a = await e2e.open();
    await e2e.signIn(a.page, 'risk1');
    await a.page.evaluate((id) => {
      window.location.hash = `#/contracts/${id}`;
    }, contract.id);
    await a.page.getByTestId('case-file').waitFor({ timeout: 15_000 });
    expect(await a.page.getByTestId('case-stage').textContent()).toBe('Stage 3');
    await a.page.getByTestId('schedule').waitFor();
    expect(await a.page.locator('[data-testid=schedule] tr[data-status=overdue]').count()).toBe(
      contract.instalments.filter((i) => i.status === 'overdue').length,
    );
    await a.page.getByTestId('gps-stop-reason').fill('Three instalments overdue, warned twice, no answer');
    await a.page.getByTestId('gps-stop-request').click();
    const evaluation = a.page.getByTestId('gps-stop').getByTestId('evaluation');
    await evaluation.waitFor({ timeout: 15_000 });
    // In plain words: what holds, and that a second manager is what is missing.
    expect(await evaluation.getAttribute('data-decision')).toBe('wait');
    const reasons = await evaluation.getByTestId('evaluation-reasons').textContent();
    expect(reasons).toContain('account at stage 3');
    expect(reasons).toMatch(/warned at least 72 h before through phone, sms/);
    expect(await evaluation.getByTestId('evaluation-missing').textContent()).toContain(
      'approval by a second risk manager',
    );
    const command = a.page.locator('[data-testid=case-commands] [data-testid=command]').first();
    await command.waitFor({ timeout: 15_000 });
    const commandId = (await command.getAttribute('data-command-id'))!;
    expect(await command.getAttribute('data-state')).toBe('REQUESTED');
    // The requester cannot approve their own request.
    expect(await command.getByTestId('approve').count()).toBe(0);
    await command.scrollIntoViewIfNeeded();
    await e2e.shot(a.page, 'gps-stop-requested.png');

    const b = await e2e.open();
    await e2e.signIn(b.page, 'risk2');
    await b.page.getByTestId('nav-approvals').click();
    const queued = b.page.locator(`[data-testid=approvals-page] [data-command-id="${commandId}"]`);
    await queued.waitFor({ timeout: 15_000 });
    await e2e.shot(b.page, 'gps-stop-approvals-queue.png');
    await queued.getByTestId('approve').click();
    await b.page.waitForFunction(
      (id) => !document.querySelector(`[data-testid=approvals-page] [data-command-id="${id}"]`),
      commandId,
      { timeout: 15_000 },
    );

    // A's case file follows without a reload: approved, sent, accepted, then executed.
    const step = (state: string) => command.getByTestId(`step-${state}`);
    await a.page.waitForFunction(
      (id) =>
        document
          .querySelector(`[data-command-id="${id}"] [data-testid=step-APPROVED]`)
          ?.getAttribute('data-reached') === 'true',
      commandId,
      { timeout: 30_000 },
    );
    expect(await step('APPROVED').textContent()).toContain('risk2');
    await a.page.waitForFunction(
      (id) =>
        document
          .querySelector(`[data-command-id="${id}"] [data-testid=step-ACKED]`)
          ?.getAttribute('data-reached') === 'true',
      commandId,
      { timeout: 30_000, polling: 250 },
    );
    await command.scrollIntoViewIfNeeded();
    await e2e.shot(a.page, 'gps-stop-acked.png');
    await a.page.waitForFunction(
      (id) => document.querySelector(`[data-command-id="${id}"]`)?.getAttribute('data-state') === 'EXECUTED',
      commandId,
      { timeout: 30_000, polling: 250 },
    );
    expect(await step('EXECUTED').getAttribute('data-reached')).toBe('true');
    const done = await e2e.api<CommandView>(`/api/commands/${commandId}`, 'risk1');
    expect(done.state).toBe('EXECUTED');
    expect(done.deviceId).toBe(box.deviceId);
    await command.scrollIntoViewIfNeeded();
    await e2e.shot(a.page, 'gps-stop-executed.png');

    // The map shows the relay engaged for that machine.
    const fleet = await e2e.api<MachineCollection>('/api/map/machines?minStage=3');
    expect(fleet.features.find((f) => f.properties.deviceId === box.deviceId)?.properties.rly).toBe(true);

    // Emergency release: the account is still at stage 3, so a release is one (needing approval).
    await a.page.getByTestId('gps-stop-reason').fill('Customer paid in cash at the branch; receipt pending');
    expect(await a.page.getByTestId('gps-stop-release').textContent()).toBe('Emergency release');
    await a.page.getByTestId('gps-stop-release').click();
    const release = a.page
      .locator('[data-testid=case-commands] [data-testid=command][data-state=REQUESTED]')
      .first();
    await release.waitFor({ timeout: 15_000 });
    expect(await release.textContent()).toContain('Release (emergency)');
    await a.page.getByTestId('gps-stop').getByTestId('evaluation').scrollIntoViewIfNeeded();
    await e2e.shot(a.page, 'gps-stop-emergency-release.png');
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
  });
});
