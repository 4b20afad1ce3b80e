/**
 * A stage change reaches browsers live: a contract saved at stage 3, then cured by a payment, is
 * pushed over socket.io as `stages:update`, and the machine is re-pushed to the map with its new
 * stage — through the broker, as between api nodes; a socket whose scope holds none of it hears
 * none of it. Embedded or real engines.
 */
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { ServerToClientEvents, StageChange } from '../../shared/live.ts';
import type { MachineFeature } from '../../shared/map.ts';
import { topics } from '../../shared/protocol.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const d = {
  deviceId: `SL${run}`,
  token: `token-stage-live-${run}`.padEnd(32, '0'),
  machine: {
    id: `MSL${run}`,
    make: 'XCMG',
    model: 'XE215',
    type: 'excavator',
    serial: `PSL${run}`,
    year: 2023,
  },
};

describe(`stage changes pushed live on ${engineName}`, () => {
  let platform: TestPlatform;
  let socket: Socket<ServerToClientEvents>;
  /** An agent assigned to nothing: its scope holds none of this, so it must hear none of it. */
  let outsider: Socket<ServerToClientEvents>;
  const stages: StageChange[] = [];
  const features: MachineFeature[] = [];
  const heardByOutsider: unknown[] = [];

  beforeAll(async () => {
    platform = await startTestPlatform();
    await provisionDevices(platform.db, [d]);
    const device = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: d.deviceId,
      username: d.deviceId,
      password: d.token,
      reconnectPeriod: 0,
    });
    await device.publishAsync(
      topics.telemetry(d.deviceId),
      JSON.stringify({ v: 1, ts: Date.now() - 1000, lat: 34.2, lon: 117.2 }),
      { qos: 1 },
    );
    await device.endAsync();
    const { token } = await signedInAs(platform.url as string, platform.db, 'recovery_agent');
    socket = io(platform.url as string, { transports: ['websocket'], auth: { token } });
    socket.on('stages:update', (c) => stages.push(...c));
    socket.on('machines:update', (f) => features.push(...f));
    const agent = await signedInAs(platform.url as string, platform.db, 'recovery_agent', {
      kind: 'assigned',
    });
    outsider = io(platform.url as string, { transports: ['websocket'], auth: { token: agent.token } });
    outsider.on('stages:update', (c) => heardByOutsider.push(...c));
    outsider.on('machines:update', (f) => heardByOutsider.push(...f));
    for (const s of [socket, outsider]) {
      await new Promise<void>((resolve, reject) => {
        if (s.connected) return resolve();
        s.once('connect', resolve);
        s.once('connect_error', reject);
      });
    }
  });
  afterAll(async () => {
    outsider?.close();
    socket?.close();
    await platform?.teardown();
  });

  const until = async (what: string, check: () => boolean) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('a new stage-3 contract, then a curing payment, reach the browser with the map re-coloured', async () => {
    const admin = await signedInAs(platform.url as string, platform.db, 'admin');
    const collector = await signedInAs(platform.url as string, platform.db, 'collector');
    const number = `LIVE-${run}`;
    const today = new Date().toISOString().slice(0, 10);
    const created = await fetch(`${platform.url}/api/contracts`, {
      method: 'POST',
      headers: { ...authHeader(admin.token), 'content-type': 'application/json' },
      body: JSON.stringify({
        number,
        kind: 'loan',
        principal: 3_600_000,
        startDate: '2020-01-01',
        termMonths: 36,
        customer: { name: '测试客户' },
        machineId: d.machine.id,
      }),
    });
    expect(created.status).toBe(200);
    const { id } = (await created.json()) as { id: string };
    await until('stage 3 push', () => stages.some((s) => s.contractNumber === number && s.to === 3));
    await until('map push at stage 3', () =>
      features.some((f) => f.properties.deviceId === d.deviceId && f.properties.stage === 3),
    );

    const paid = await fetch(`${platform.url}/api/contracts/${id}/payments`, {
      method: 'POST',
      headers: { ...authHeader(collector.token), 'content-type': 'application/json' },
      body: JSON.stringify({ date: today, amount: 3_600_000, reference: `PAY-${run}` }),
    });
    expect(paid.status).toBe(200);
    await until('cure push', () => stages.some((s) => s.contractId === id && s.from === 3 && s.to === 0));
    await until('map push at stage 0', () =>
      features.some((f) => f.properties.deviceId === d.deviceId && f.properties.stage === 0),
    );
    // Each push went to the room of each scope with its own query: none to the outsider's.
    expect(heardByOutsider).toEqual([]);
  });
});
