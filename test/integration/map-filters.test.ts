/**
 * The map's dealer and region: each machine carries its contract's dealer and the dealer's
 * province, over REST and in live pushes, and `GET /api/map/machines` filters by them. Devices
 * report over MQTT through ingest; embedded engines, or the real ones with MQTT_URL / DATABASE_URL.
 */
import mqtt from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { ServerToClientEvents } from '../../shared/live.ts';
import type { MachineCollection, MachineFeature } from '../../shared/map.ts';
import { topics } from '../../shared/protocol.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const XZ = { id: `DL-XZ-${run}`, name: '徐州恒力工程机械有限公司', province: '江苏省' };
const SZ = { id: `DL-SZ-${run}`, name: '苏州宏达工程机械有限公司', province: '江苏省' };
const CD = { id: `DL-CD-${run}`, name: '成都远大工程机械有限公司', province: '四川省' };
/** Five machines: two dealers in Jiangsu, one in Sichuan, a contract without a dealer, no contract. */
const DEALERS = [XZ, SZ, CD, null, undefined] as const;
const deviceId = (n: number) => `F${run}-${n}`;
const devices = DEALERS.map((_, n) => ({
  deviceId: deviceId(n),
  token: `token-${run}-${n}`.padEnd(32, '0'),
  machine: {
    id: `MF${run}-${n}`,
    make: 'XCMG',
    model: 'XE215DA',
    type: 'excavator',
    serial: `PF${run}-${n}`,
    year: 2023,
  },
}));

describe(`map dealer and region on ${engineName}`, () => {
  let platform: TestPlatform;
  let token: string;

  const get = (query: string) =>
    fetch(`${platform.url}/api/map/machines${query}`, { headers: authHeader(token) });
  const ids = async (query: string) => {
    const res = await get(query);
    expect(res.status, await res.clone().text()).toBe(200);
    return ((await res.json()) as MachineCollection).features.map((f) => f.properties.deviceId).sort();
  };
  const publish = async (n: number, lat: number, lon: number) => {
    const d = devices[n]!;
    const c = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: d.deviceId,
      username: d.deviceId,
      password: d.token,
      reconnectPeriod: 0,
    });
    try {
      await c.publishAsync(
        topics.telemetry(d.deviceId),
        JSON.stringify({ v: 1, seq: Date.now() % 1_000_000, ts: Date.now() - 1000, lat, lon, ign: false }),
        { qos: 1 },
      );
    } finally {
      await c.endAsync();
    }
  };

  beforeAll(async () => {
    platform = await startTestPlatform();
    token = (await signedInAs(platform.url, platform.db, 'admin')).token;
    await provisionDevices(platform.db, devices);
    for (const [n, dealer] of DEALERS.entries()) {
      if (dealer === undefined) continue;
      const res = await fetch(`${platform.url}/api/contracts`, {
        method: 'POST',
        headers: { ...authHeader(token), 'content-type': 'application/json' },
        body: JSON.stringify({
          number: `HT-F${run}-${n}`,
          kind: 'finance_lease',
          principal: 60_000_000,
          startDate: '2026-01-01',
          termMonths: 24,
          customer: { name: `客户${n}` },
          ...(dealer ? { dealer } : {}),
          machineSerial: devices[n]!.machine.serial,
        }),
      });
      expect(res.status, await res.text()).toBe(200);
    }
    for (const n of DEALERS.keys()) await publish(n, 31 + n / 10, 118 + n / 10);
    await waitFor(async () => (await ids('')).length === DEALERS.length, {
      what: 'five machines on the map',
    });
  });
  afterAll(async () => {
    await platform?.teardown();
  });

  it("gives each machine its contract's dealer and the dealer's province", async () => {
    const res = await get('');
    const byId = new Map(
      ((await res.json()) as MachineCollection).features.map((f) => [f.properties.deviceId, f.properties]),
    );
    expect(byId.get(deviceId(0))).toMatchObject({ dealerId: XZ.id, dealer: XZ.name, province: '江苏省' });
    expect(byId.get(deviceId(2))).toMatchObject({ dealerId: CD.id, dealer: CD.name, province: '四川省' });
    // A contract without a dealer, and a machine without a contract.
    for (const n of [3, 4]) {
      expect(byId.get(deviceId(n))).toMatchObject({ dealerId: null, dealer: null, province: null });
    }
  });

  it('filters by dealer, by province, by both, and with the stage filter', async () => {
    expect(await ids(`?dealer=${XZ.id}`)).toEqual([deviceId(0)]);
    expect(await ids(`?province=${encodeURIComponent('江苏省')}`)).toEqual([deviceId(0), deviceId(1)]);
    expect(await ids(`?province=${encodeURIComponent('四川省')}&dealer=${CD.id}`)).toEqual([deviceId(2)]);
    // A dealer of another province: nothing is both.
    expect(await ids(`?province=${encodeURIComponent('江苏省')}&dealer=${CD.id}`)).toEqual([]);
    expect(await ids('?dealer=DL-NOBODY')).toEqual([]);
    expect(await ids(`?dealer=${SZ.id}&bbox=117,30,119,32&minStage=0`)).toEqual([deviceId(1)]);
    expect(await ids(`?dealer=${SZ.id}&bbox=100,20,110,25`)).toEqual([]);
  });

  it('answers a bad dealer or province with 400 naming the field', async () => {
    for (const [query, field] of [
      ['?dealer=', 'dealer'],
      ['?dealer=%20%20', 'dealer'],
      [`?dealer=${'x'.repeat(65)}`, 'dealer'],
      ['?province=', 'province'],
      [`?province=${'省'.repeat(101)}`, 'province'],
    ] as const) {
      const res = await get(query);
      expect(res.status, query).toBe(400);
      const body = (await res.json()) as { message: string; errors: { field: string }[] };
      expect(body.message).toBe('invalid query');
      expect(body.errors.map((e) => e.field)).toEqual([field]);
    }
    // Two dealers at once is not a filter this route knows.
    expect((await get(`?dealer=${XZ.id}&dealer=${SZ.id}`)).status).toBe(400);
  });

  it('pushes the dealer and province with a live position', async () => {
    const socket: Socket<ServerToClientEvents> = io(platform.url, {
      transports: ['websocket'],
      auth: { token },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const pushed = new Promise<MachineFeature>((resolve) => {
        socket.on('machines:update', (features) => {
          const f = features.find((x) => x.properties.deviceId === deviceId(1) && x.properties.lastSeen);
          if (f && f.geometry.coordinates[1] === 31.5) resolve(f);
        });
      });
      await publish(1, 31.5, 118.5);
      expect((await pushed).properties).toMatchObject({
        dealerId: SZ.id,
        dealer: SZ.name,
        province: '江苏省',
      });
    } finally {
      socket.close();
    }
  });
});
