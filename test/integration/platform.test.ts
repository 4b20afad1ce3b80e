/**
 * The platform as a process: migrations are safe to run twice, a restart finds its data again,
 * a taken MQTT port gets a message that says what to do, and a client we did not write
 * (mosquitto_pub) can speak the documented protocol to the embedded broker.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import { loadMigrations, migrate } from '../../db/migrate.ts';
import type { MachineCollection } from '../../shared/map.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName, realBroker, scratchDatabase } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = promisify(execFile);
const hasMosquittoPub = existsSync('/usr/bin/mosquitto_pub');
const tag = `${process.pid}${Date.now() % 100000}`;
const dev = {
  deviceId: `P${tag}`,
  token: `token-${tag}`.padEnd(32, '0'),
  machine: { id: `PM${tag}`, make: 'XCMG', model: 'XE60', type: 'excavator', serial: `PS${tag}`, year: 2021 },
};

describe(`platform on ${engineName}`, () => {
  it('applies each migration once; running them again changes nothing', async () => {
    const scratch = await scratchDatabase({ empty: true });
    const db = await scratch.open();
    try {
      const first = await migrate(db);
      expect(first).toEqual(loadMigrations().map((m) => m.version));
      expect(await migrate(db)).toEqual([]);
      const { rows } = await db.query<{ n: number }>('select count(*)::int as n from schema_migrations');
      expect(rows[0]?.n).toBe(first.length);
    } finally {
      await db.close();
      await scratch.drop();
    }
  });

  describe('restart', () => {
    let platform: TestPlatform;
    beforeAll(async () => {
      platform = await startTestPlatform();
    });
    afterAll(async () => platform?.teardown());

    it('finds its data again after a stop and a start on the same data, and keeps users signed in', async () => {
      const { token } = await signedInAs(platform.url, platform.db, 'collector');
      await provisionDevices(platform.db, [dev]);
      await platform.db.query(
        `insert into latest_position (device_id, ts, received_at, lat, lon) values ($1, now(), now(), 30, 120)`,
        [dev.deviceId],
      );
      const again = await platform.restart();
      const res = await fetch(`${again.url}/api/map/machines`, { headers: authHeader(token) });
      expect(res.status).toBe(200);
      const body = (await res.json()) as MachineCollection;
      expect(body.features.map((f) => f.properties.deviceId)).toContain(dev.deviceId);
    });
  });

  it.skipIf(realBroker)(
    'exits with a message naming MQTT_PORT and MQTT_URL when the MQTT port is taken',
    async () => {
      const blocker = createServer();
      await new Promise<void>((r) => blocker.listen(0, r));
      const { port } = blocker.address() as { port: number };
      try {
        await expect(startTestPlatform({ MQTT_PORT: port })).rejects.toThrow(
          new RegExp(`MQTT port ${port} is already in use.*MQTT_PORT.*MQTT_URL`, 's'),
        );
      } finally {
        blocker.close();
      }
    },
  );

  describe.skipIf(realBroker || !hasMosquittoPub)('a third-party client (mosquitto_pub)', () => {
    let platform: TestPlatform;
    let token: string;
    beforeAll(async () => {
      platform = await startTestPlatform();
      token = (await signedInAs(platform.url, platform.db, 'recovery_agent')).token;
      await provisionDevices(platform.db, [dev]);
    });
    afterAll(async () => platform?.teardown());

    const pub = (password: string, payload: string) =>
      run('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', new URL(platform.mqttUrl).port],
        ...['-i', dev.deviceId, '-u', dev.deviceId, '-P', password, '-q', '1'],
        ...['-t', `devices/${dev.deviceId}/telemetry`, '-m', payload],
      ]);

    it('publishes a documented v1 report that reaches the map', async () => {
      const ts = Date.now();
      const sent = performance.now();
      await pub(
        dev.token,
        JSON.stringify({ v: 1, seq: 1, ts, lat: 22.54, lon: 114.06, ign: false, hrs: 3.5 }),
      );
      await waitFor(
        async () => {
          const res = await fetch(`${platform.url}/api/map/machines`, { headers: authHeader(token) });
          const body = (await res.json()) as MachineCollection;
          return body.features.find(
            (f) =>
              f.properties.deviceId === dev.deviceId && f.properties.lastSeen === new Date(ts).toISOString(),
          );
        },
        { what: 'the mosquitto_pub report on the map', everyMs: 10 },
      );
      console.info(`mosquitto_pub → /api/map/machines: ${(performance.now() - sent).toFixed(0)} ms`);
    });

    it('is refused at CONNECT with a wrong token', async () => {
      await expect(pub('wrong-token', '{"v":1,"ts":1,"lat":0,"lon":0}')).rejects.toMatchObject({
        stderr: expect.stringMatching(/not authori[sz]ed/i),
      });
    });
  });
});
