/**
 * `npm run sim -- --api-url …` against a running platform, as a user runs it (spawned with tsx):
 * the simulator signs in, provisions its boxes, saves the demo contracts through the api, then
 * runs the fleet; afterwards the api shows the devices on their machines, the accounts at the
 * stages the generator meant, and the boxes' reports stored. A refused login and an api that is
 * not there each end the command with one line and exit 1.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasUsableFix } from '../../shared/protocol.ts';
import { generateDemoContracts, intendedStage } from '../../simulators/demo-contracts.ts';
import { createFleet } from '../../simulators/fleet.ts';
import { authHeader, createTestUser, loginAs, type TestUser } from '../support/auth.ts';
import { forgetDevices } from '../support/broker-sessions.ts';
import { engineName, realBroker } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEVICES = 10; // enough for every stage: 7 current, one each 1, 2 and 3 behind
const SEED = 4711;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function sim(argv: string[], password: string): Promise<Ran> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'simulators/cli.ts', ...argv], {
    cwd: ROOT,
    env: { ...process.env, MQTT_URL: '', SIM_API_PASSWORD: password },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

describe(`npm run sim -- --api-url on ${engineName}`, () => {
  let platform: TestPlatform;
  let admin: TestUser;
  let token: string;
  const start = Date.now();
  const fleet = createFleet({ devices: DEVICES, seed: SEED, start, story: false });

  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${platform.url}${path}`, { headers: authHeader(token) });
    expect(res.status, `${path}: ${res.status}`).toBe(200);
    return (await res.json()) as T;
  };

  beforeAll(async () => {
    platform = await startTestPlatform();
    admin = await createTestUser(platform.db, 'admin');
    token = (await loginAs(platform.url, admin.username, admin.password)).token;
  });
  afterAll(async () => {
    try {
      // The boxes' persistent sessions and retained statuses would stay on a real broker.
      if (realBroker) {
        await forgetDevices(
          platform.mqttUrl,
          fleet.map(({ identity: m }) => ({ deviceId: m.deviceId, token: m.token })),
        );
      }
    } finally {
      await platform?.teardown();
    }
  });

  it('sets up the platform through the api, runs the fleet, and the api shows devices, accounts and reports', async () => {
    const ran = await sim(
      [
        ...['--devices', String(DEVICES), '--seed', String(SEED), '--no-story', '--quiet'],
        ...['--start', new Date(start).toISOString(), '--duration', '6'],
        ...['--mqtt-url', platform.mqttUrl, '--api-url', platform.url, '--api-user', admin.username],
      ],
      admin.password,
    );
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`${DEVICES} devices provisioned, 0 refreshed`);
    expect(ran.stdout).toContain(`${DEVICES} created, 0 updated`);
    const asOf = /updated as of (\d{4}-\d{2}-\d{2})/.exec(ran.stdout)?.[1];
    expect(asOf).toBeDefined();

    // Devices, each on its machine as the fleet describes it.
    for (const { identity: m } of fleet) {
      const d = await get<{ machine: unknown; disabledAt: string | null }>(`/api/devices/${m.deviceId}`);
      expect(d.disabledAt).toBeNull();
      expect(d.machine).toEqual({
        id: m.machineId,
        make: m.make,
        model: m.model,
        type: m.type,
        serial: m.pin,
        year: m.year,
      });
    }

    // Accounts: one per machine, each at the stage its payer profile was generated for.
    const generated = generateDemoContracts(
      fleet.map(({ identity: m }) => ({
        machineId: m.machineId,
        deviceId: m.deviceId,
        province: m.province,
        city: m.city,
      })),
      { seed: SEED, asOf: asOf! },
    );
    const accounts = await get<{
      total: number;
      items: { number: string; machineId: string; deviceId: string | null; stage: number }[];
    }>('/api/accounts?pageSize=500&sort=number&order=asc');
    expect(accounts.total).toBe(DEVICES);
    const actual = accounts.items.map((a) => [a.number, a.machineId, a.deviceId, a.stage]);
    const meant = generated.map((c) => [c.number, c.machineId, c.deviceId, intendedStage(c.payerProfile)]);
    expect(actual).toEqual(meant);
    expect(new Set(actual.map((a) => a[3]))).toEqual(new Set([0, 1, 2, 3]));
    const summaryStages = [0, 1, 2, 3].map((s) => actual.filter((a) => a[3] === s).length).join('/');
    expect(ran.stdout).toContain(`stages 0/1/2/3: ${summaryStages}`);

    // Reports: every box the model has sending a usable fix in its first second is on record.
    const twin = createFleet({ devices: DEVICES, seed: SEED, start, story: false });
    const reporting = twin
      .filter((m) =>
        m.advance(start + 1000).some((e) => e.kind === 'telemetry' && [e.payload].flat().some(hasUsableFix)),
      )
      .map((m) => m.identity.deviceId);
    expect(reporting.length).toBeGreaterThan(0);
    const from = new Date(start - 3_600_000).toISOString();
    for (const id of reporting) {
      const track = await waitFor(
        async () => {
          const t = await get<{ features: unknown[] }>(
            `/api/devices/${id}/track?from=${from}&to=${new Date(Date.now() + 60_000).toISOString()}`,
          );
          return t.features.length > 0 && t;
        },
        { what: `${id}'s stored track` },
      );
      expect(track).toBeTruthy();
      const d = await get<{ lastFixAt: string | null }>(`/api/devices/${id}`);
      expect(d.lastFixAt).not.toBeNull();
    }
  });

  it('runs again idempotently: the same devices refreshed, the same contracts updated', async () => {
    const ran = await sim(
      [
        ...['--devices', String(DEVICES), '--seed', String(SEED), '--no-story', '--quiet', '--duration', '1'],
        ...['--mqtt-url', platform.mqttUrl, '--api-url', platform.url, '--api-user', admin.username],
      ],
      admin.password,
    );
    expect(ran.stderr).toBe('');
    expect(ran.code).toBe(0);
    expect(ran.stdout).toContain(`0 devices provisioned, ${DEVICES} refreshed`);
    expect(ran.stdout).toContain(`0 created, ${DEVICES} updated`);
    expect((await get<{ total: number }>('/api/accounts?pageSize=500')).total).toBe(DEVICES);
  });

  it('stops with one line and exit 1 when the login is refused or the api is not there', async () => {
    const base = ['--devices', '2', '--quiet', '--duration', '1', '--mqtt-url', platform.mqttUrl];
    const refused = await sim([...base, '--api-url', platform.url, '--api-user', admin.username], 'wrong');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `sim: the api at ${platform.url} refused the login of "${admin.username}": wrong username or password\n`,
    );
    expect(refused.stdout).toBe('');

    const nobody = 'http://127.0.0.1:59999';
    const absent = await sim([...base, '--api-url', nobody, '--api-user', admin.username], admin.password);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toMatch(
      /^sim: cannot reach the api at http:\/\/127\.0\.0\.1:59999: ECONNREFUSED\n$/,
    );

    const collector = await createTestUser(platform.db, 'collector');
    const notAdmin = await sim(
      [...base, '--api-url', platform.url, '--api-user', collector.username],
      collector.password,
    );
    expect(notAdmin.code).toBe(1);
    expect(notAdmin.stderr).toMatch(/is not an admin \(roles: collector\)/);
  });
});
