/**
 * The walking skeleton end to end: a device publishes over MQTT → ingest validates and commits →
 * the map API serves it. Runs on the embedded engines, or the real ones when MQTT_URL /
 * DATABASE_URL are set.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import type { ServerToClientEvents } from '../../shared/live.ts';
import type { MachineCollection, MachineFeature } from '../../shared/map.ts';
import { topics } from '../../shared/protocol.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName, realBroker } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const device = (n: number) => ({
  deviceId: `T${run}-${n}`,
  token: `token-${run}-${n}`.padEnd(32, '0'),
  machine: {
    id: `M${run}-${n}`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `S${run}-${n}`,
    year: 2022,
  },
});

describe(`telemetry slice on ${engineName}`, () => {
  let platform: TestPlatform;
  let token: string;
  const devices: MqttClient[] = [];

  const connect = async (d: ReturnType<typeof device>) => {
    const c = await mqtt.connectAsync(platform.mqttUrl, {
      clientId: d.deviceId,
      username: d.deviceId,
      password: d.token,
      reconnectPeriod: 0,
    });
    devices.push(c);
    return c;
  };
  const machines = async (query = ''): Promise<MachineCollection> => {
    const res = await fetch(`${platform.url}/api/map/machines${query}`, { headers: authHeader(token) });
    expect(res.status).toBe(200);
    return (await res.json()) as MachineCollection;
  };
  const featureOf = async (deviceId: string, query = '') =>
    (await machines(query)).features.find((f) => f.properties.deviceId === deviceId);

  beforeAll(async () => {
    // /docs is off by default on PostgreSQL; its JSON is the big answer this test compresses.
    platform = await startTestPlatform({ API_DOCS: 'on' });
    token = (await signedInAs(platform.url, platform.db, 'recovery_agent')).token;
    await provisionDevices(platform.db, [device(1), device(2), device(3)]);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.endAsync(true)));
    await platform?.teardown();
  });

  it('answers health with broker and database state', async () => {
    const res = await fetch(`${platform.url}/api/health`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      status: string;
      broker: { connected: boolean };
      database: { ok: boolean };
    };
    expect(body).toMatchObject({ status: 'ok', broker: { connected: true }, database: { ok: true } });
  });

  it('stores a published report and serves it on the map', async () => {
    const d = device(1);
    const client = await connect(d);
    const ts = Date.now() - 1000;
    await client.publishAsync(
      topics.telemetry(d.deviceId),
      JSON.stringify({
        v: 1,
        seq: 1,
        ts,
        lat: 31.2304,
        lon: 121.4737,
        spd: 0,
        ign: true,
        hrs: 1234.5,
        rly: false,
      }),
      { qos: 1 },
    );
    const f = await waitFor(() => featureOf(d.deviceId), { what: 'the report on the map' });
    expect(f.geometry.coordinates).toEqual([121.4737, 31.2304]);
    expect(f.properties).toMatchObject({ machineId: d.machine.id, ign: true, hrs: 1234.5, rly: false });
    expect(f.properties.lastSeen).toBe(new Date(ts).toISOString());
    const { rows } = await platform.db.query(
      'select count(*)::int as n from telemetry where device_id = $1',
      [d.deviceId],
    );
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('rejects a malformed message to the dead letters and still takes the next good one', async () => {
    const d = device(2);
    const client = await connect(d);
    await client.publishAsync(topics.telemetry(d.deviceId), '{"v":1,"ts":', { qos: 1 });
    await client.publishAsync(
      topics.telemetry(d.deviceId),
      JSON.stringify({ v: 1, ts: Date.now(), lat: 95, lon: 0 }),
      {
        qos: 1,
      },
    );
    await client.publishAsync(
      topics.telemetry(d.deviceId),
      JSON.stringify({ v: 1, ts: Date.now(), lat: 30.5, lon: 114.3 }),
      { qos: 1 },
    );
    const f = await waitFor(() => featureOf(d.deviceId), { what: 'the good report' });
    expect(f.geometry.coordinates).toEqual([114.3, 30.5]);
    const { rows } = await platform.db.query<{ reason: string; payload: string }>(
      'select reason, payload from ingest_rejects where device_id = $1 order by id',
      [d.deviceId],
    );
    expect(rows.map((r) => r.reason)).toEqual(['malformed_json', 'schema']);
    expect(rows[0]!.payload).toBe('{"v":1,"ts":');
  });

  it('never moves a machine back to an older fix, and ignores reports without a fix', async () => {
    const d = device(3);
    const client = await connect(d);
    const t = Date.now() - 60_000;
    const send = (ts: number, lat: number, extra = {}) =>
      client.publishAsync(
        topics.telemetry(d.deviceId),
        JSON.stringify({ v: 1, ts, lat, lon: 113, ...extra }),
        {
          qos: 1,
        },
      );
    await send(t, 23.1);
    // A backlog uploaded late and out of order, then a report that has no fix.
    await client.publishAsync(
      topics.telemetry(d.deviceId),
      JSON.stringify([
        { v: 1, ts: t - 20_000, lat: 23.3, lon: 113 },
        { v: 1, ts: t - 40_000, lat: 23.2, lon: 113 },
      ]),
      { qos: 1 },
    );
    await send(t + 10_000, 0.5, { fix: false });
    const { rows } = await waitFor(
      async () => {
        const r = await platform.db.query('select count(*)::int as n from telemetry where device_id = $1', [
          d.deviceId,
        ]);
        return (r.rows[0] as { n: number }).n === 4 ? r : null;
      },
      { what: 'four telemetry rows' },
    );
    expect(rows).toHaveLength(1);
    const f = await featureOf(d.deviceId);
    expect(f?.geometry.coordinates).toEqual([113, 23.1]);
    expect(f?.properties.lastSeen).toBe(new Date(t).toISOString());
  });

  it('filters by bbox and minStage, and answers a bad query with 400', async () => {
    const d = device(1);
    await waitFor(() => featureOf(d.deviceId), { what: 'device 1 on the map' });
    expect(await featureOf(d.deviceId, '?bbox=120,30,122,32')).toBeDefined();
    expect(await featureOf(d.deviceId, '?bbox=100,20,110,25')).toBeUndefined();
    // No contract yet: a stage filter above 0 leaves it out.
    expect(await featureOf(d.deviceId, '?minStage=3')).toBeUndefined();
    const bad = await fetch(`${platform.url}/api/map/machines?bbox=1,2,3`, { headers: authHeader(token) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toBe('invalid query');
    expect(
      (await fetch(`${platform.url}/api/map/machines?minStage=7`, { headers: authHeader(token) })).status,
    ).toBe(400);
    expect((await fetch(`${platform.url}/api/map/machines`)).status).toBe(401);
  });

  it('compresses the fleet for clients that accept it', async () => {
    const res = await fetch(`${platform.url}/api/map/machines`, {
      headers: { ...authHeader(token), 'accept-encoding': 'gzip' },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as MachineCollection; // fetch decodes it
    expect(body.features.length).toBeGreaterThan(0);
    const big = await fetch(`${platform.url}/docs/json`, { headers: { 'accept-encoding': 'gzip' } });
    expect(big.headers.get('content-encoding')).toBe('gzip');
  });

  it('pushes a committed position to browsers over socket.io, joined to its machine', async () => {
    const d = device(1);
    const socket: Socket<ServerToClientEvents> = io(platform.url, {
      transports: ['websocket'],
      auth: { token },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      const ts = Date.now();
      const update = new Promise<MachineFeature>((resolve) => {
        socket.on('machines:update', (features) => {
          const f = features.find(
            (x) =>
              x.properties.deviceId === d.deviceId && x.properties.lastSeen === new Date(ts).toISOString(),
          );
          if (f) resolve(f);
        });
      });
      const client = await connect(d);
      await client.publishAsync(
        topics.telemetry(d.deviceId),
        JSON.stringify({ v: 1, ts, lat: 31.3, lon: 121.5, spd: 12 }),
        {
          qos: 1,
        },
      );
      const f = await update;
      expect(f.geometry.coordinates).toEqual([121.5, 31.3]);
      expect(f.properties).toMatchObject({ machineId: d.machine.id, spd: 12 });
    } finally {
      socket.close();
    }
  });

  it('refuses a socket.io connection without a valid token', async () => {
    for (const auth of [{}, { token: 'not-a-token' }]) {
      const socket = io(platform.url, { transports: ['websocket'], auth, reconnection: false });
      try {
        const error = await new Promise<Error>((resolve, reject) => {
          socket.once('connect', () => reject(new Error('connected without a valid token')));
          socket.once('connect_error', resolve);
        });
        expect(error.message).toBe('unauthorized');
      } finally {
        socket.close();
      }
    }
  });

  it.skipIf(realBroker)('refuses wrong credentials at CONNECT and fences topics per device', async () => {
    const d = device(1);
    await expect(
      mqtt.connectAsync(platform.mqttUrl, {
        clientId: d.deviceId,
        username: d.deviceId,
        password: 'wrong',
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized|Bad username or password/i);
    // Right token, but posing as another device's client id.
    await expect(
      mqtt.connectAsync(platform.mqttUrl, {
        clientId: device(2).deviceId,
        username: d.deviceId,
        password: d.token,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/i);
    const client = await connect(device(2));
    // Subscribing to another device's commands gets a failure code in SUBACK.
    await expect(client.subscribeAsync(topics.commands(device(1).deviceId), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    // Its own commands are fine.
    expect((await client.subscribeAsync(topics.commands(device(2).deviceId), { qos: 1 }))[0]?.qos).toBe(1);
    // Publishing as another device is refused: MQTT 3.1.1 has no negative PUBACK, so the broker
    // drops the connection, and nothing is stored for the other device.
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish(
      topics.telemetry(device(3).deviceId),
      JSON.stringify({ v: 1, ts: Date.now(), lat: 1, lon: 1 }),
      {
        qos: 1,
      },
    );
    await closed;
    const { rows } = await platform.db.query('select 1 from telemetry where device_id = $1 and lat = 1', [
      device(3).deviceId,
    ]);
    expect(rows).toHaveLength(0);
  });
});
