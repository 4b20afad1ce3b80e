/**
 * The production broker files (deploy/mosquitto: mosquitto.conf, acl, entrypoint.sh) against the
 * device registry. The test runs its own Mosquitto through entrypoint.sh, with the shipped config
 * rewritten only for a temporary folder and two free loopback ports (its two listeners: devices and
 * services), and a platform (ingest, as the svc-ingest service account, on the services' listener)
 * that keeps the device password file in step with the registry (MOSQUITTO_PASSWORD_FILE). Devices
 * are provisioned and disabled through the registry only; the broker learns of them from the file
 * and the entrypoint's reload, never restarted.
 *
 * As in docker-compose.yml, devices connect to the devices' listener, where the broker replaces
 * every client id with the user name: two connections of one device take each other over, so each
 * test holds one connection per device at a time.
 *
 * It needs no MQTT_URL (it brings its own broker), so it runs on both passes; the database is the
 * one the environment selects. Skipped only when /usr/sbin/mosquitto is not installed.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeviceProvision, disableDevices, provisionDevices } from '../../api/devices/store.ts';
import { migrate } from '../../db/migrate.ts';
import { mosquittoPasswordMatches } from '../../shared/credentials.ts';
import { topics } from '../../shared/protocol.ts';
import { realDatabase, scratchDatabase } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const MOSQUITTO = '/usr/sbin/mosquitto';
const installed = existsSync(MOSQUITTO) && existsSync('/usr/bin/mosquitto_passwd');
if (!installed) console.warn(`mosquitto-auth: skipped, ${MOSQUITTO} or mosquitto_passwd not found`);

const root = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);

const tag = `${process.pid}${Date.now() % 100_000}`;
const device = (name: string): DeviceProvision => ({
  deviceId: `MQ${name}${tag}`,
  token: `${name.toLowerCase()}-${tag}-`.padEnd(32, 'x'),
  machine: {
    id: `MQM${name}${tag}`,
    make: 'Sany',
    model: 'SY215C',
    type: 'excavator',
    serial: `MQS${name}${tag}`,
    year: 2021,
  },
});
const A = device('A');
const B = device('B');
const C = device('C');
const report = (seq: number) => JSON.stringify({ v: 1, seq, ts: Date.now(), lat: 28.2, lon: 112.9 });

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** deploy/mosquitto/mosquitto.conf with only the listeners' ports and the file paths changed. */
function testConfig(ports: { devices: number; services: number; tls: number }, work: string): string {
  let conf = readFileSync(join(root, 'deploy/mosquitto/mosquitto.conf'), 'utf8');
  const rewrites: [RegExp, string][] = [
    [/^listener 1883$/m, `listener ${ports.devices} 127.0.0.1`],
    [/^listener 1884$/m, `listener ${ports.services} 127.0.0.1`],
    [/^listener 8883$/m, `listener ${ports.tls} 127.0.0.1`],
    [/^certfile \/mosquitto\/auth\/tls\/server\.crt$/m, `certfile ${work}/auth/tls/server.crt`],
    [/^keyfile \/mosquitto\/auth\/tls\/server\.key$/m, `keyfile ${work}/auth/tls/server.key`],
    [/^password_file \/mosquitto\/auth\/passwd$/m, `password_file ${work}/auth/passwd`],
    [/^acl_file \/mosquitto\/config\/acl$/m, `acl_file ${root}deploy/mosquitto/acl`],
    [/^persistence_location \/mosquitto\/data\/$/m, `persistence_location ${work}/data/`],
  ];
  for (const [pattern, replacement] of rewrites) {
    if (!pattern.test(conf)) throw new Error(`deploy/mosquitto/mosquitto.conf has no line ${pattern}`);
    conf = conf.replace(pattern, replacement);
  }
  return conf;
}

describe.skipIf(!installed)('Mosquitto with credentials from the device registry', () => {
  const passwords = { ingest: `ingest-${tag}`, api: `api-${tag}` };
  let work: string;
  /** The devices' listener (1883 in production) and the platform services' (1884). */
  let devicesUrl: string;
  let servicesUrl: string;
  let broker: ChildProcess;
  let brokerLog = '';
  let platform: TestPlatform;
  const clients: MqttClient[] = [];

  /**
   * Connects, or rejects with the broker's refusal; never retries. Service accounts use the services'
   * listener, everyone else the devices'.
   */
  async function connect(username: string | undefined, password: string | undefined, o: IClientOptions = {}) {
    const url = username?.startsWith('svc-') ? servicesUrl : devicesUrl;
    const client = await mqtt.connectAsync(url, {
      username,
      password,
      clientId: o.clientId ?? username ?? `anon-${tag}`,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...o,
    });
    client.on('error', () => {});
    clients.push(client);
    return client;
  }
  const connectDevice = (d: DeviceProvision, o: IClientOptions = {}) => connect(d.deviceId, d.token, o);
  const refused = (p: Promise<MqttClient>) =>
    p.then(
      () => false,
      (e: Error & { code?: number }) =>
        e.code === 5 || e.code === 135 || /not authori[sz]ed/i.test(e.message),
    );
  const loginWorks = async (d: DeviceProvision) => {
    const client = await connectDevice(d, { clientId: `${d.deviceId}-probe` }).catch(() => null);
    await client?.endAsync();
    return client !== null;
  };
  /** A service subscriber that records every message it gets, by topic. */
  async function recorder(username: string, password: string, filters: string[]) {
    const got: { topic: string; payload: string }[] = [];
    const client = await connect(username, password, {
      clientId: `${username}-rec-${clients.length}-${tag}`,
    });
    client.on('message', (topic, payload) => got.push({ topic, payload: payload.toString() }));
    const granted = await client.subscribeAsync(filters, { qos: 1 });
    return { client, got, granted };
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'rt-mosquitto-'));
    // Started as root, mosquitto drops to the `mosquitto` user, which must reach its files.
    await chmod(work, 0o755);
    mkdirSync(join(work, 'registry'));
    const ports = { devices: await freePort(), services: await freePort(), tls: await freePort() };
    while (new Set(Object.values(ports)).size < 3) ports.tls = await freePort();
    // The TLS listener's certificate, made for development (entrypoint.sh refuses to start without).
    execFileSync('sh', [join(root, 'deploy/mosquitto/dev-certs.sh'), join(work, 'certs')]);
    devicesUrl = `mqtt://127.0.0.1:${ports.devices}`;
    servicesUrl = `mqtt://127.0.0.1:${ports.services}`;
    writeFileSync(join(work, 'mosquitto.conf'), testConfig(ports, work), { mode: 0o644 });
    broker = spawn('sh', [join(root, 'deploy/mosquitto/entrypoint.sh')], {
      env: {
        PATH: process.env.PATH,
        MOSQUITTO_PASSWD_FILE: join(work, 'auth/passwd'),
        MOSQUITTO_DEVICES_FILE: join(work, 'registry/devices.passwd'),
        MOSQUITTO_CONFIG_FILE: join(work, 'mosquitto.conf'),
        MOSQUITTO_DATA_DIR: join(work, 'data'),
        MOSQUITTO_BIN: MOSQUITTO,
        MOSQUITTO_DEVICES_POLL_SECONDS: '0.1',
        MOSQUITTO_CERTS_DIR: join(work, 'certs'),
        MQTT_INGEST_PASSWORD: passwords.ingest,
        MQTT_API_PASSWORD: passwords.api,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    broker.stdout?.on('data', (b: Buffer) => {
      brokerLog += b.toString();
    });
    broker.stderr?.on('data', (b: Buffer) => {
      brokerLog += b.toString();
    });
    await waitFor(
      async () => {
        if (broker.exitCode !== null) throw new Error(`mosquitto exited at start:\n${brokerLog}`);
        const c = await connect('svc-api', passwords.api, { clientId: `svc-api-probe-${tag}` }).catch(
          () => null,
        );
        await c?.endAsync();
        return c !== null;
      },
      { what: 'mosquitto to accept svc-api' },
    );

    platform = await startTestPlatform({
      ROLES: ['ingest'],
      MQTT_URL: servicesUrl,
      MQTT_USERNAME: 'svc-ingest',
      MQTT_PASSWORD: passwords.ingest,
      MOSQUITTO_PASSWORD_FILE: join(work, 'registry/devices.passwd'),
    });
    await provisionDevices(platform.db, [A, B]);
    await waitFor(async () => (await loginWorks(A)) && (await loginWorks(B)), {
      what: 'A and B to log in after the automatic sync',
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    await platform?.teardown();
    if (broker && broker.exitCode === null) {
      const exited = new Promise((r) => broker.once('exit', r));
      broker.kill('SIGTERM');
      await exited;
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('accepts a device with its token and refuses a wrong, another device’s or no token', async () => {
    await connectDevice(A);
    expect(await refused(connect(A.deviceId, 'not-the-token'))).toBe(true);
    expect(await refused(connect(A.deviceId, B.token))).toBe(true);
    expect(await refused(connect(A.deviceId, undefined))).toBe(true);
    expect(await refused(connect(undefined, undefined))).toBe(true);
    expect(await refused(connect('svc-api', 'not-the-password'))).toBe(true);
  });

  it('stores a device’s report through ingest, which reads $share/ingest as svc-ingest', async () => {
    const a = await connectDevice(A, { clientId: `${A.deviceId}-report` });
    await a.publishAsync(topics.telemetry(A.deviceId), report(1), { qos: 1 });
    await waitFor(
      async () =>
        (await platform.db.query('select 1 from telemetry where device_id = $1 and seq = 1', [A.deviceId]))
          .rows.length === 1,
      { what: 'A’s report in the database' },
    );
  });

  it('lets svc-api join $share/ingest/devices/+/telemetry', async () => {
    const api = await recorder('svc-api', passwords.api, [`$share/ingest/devices/+/telemetry`]);
    expect(api.granted.map((g) => g.qos)).toEqual([1]);
    const a = await connectDevice(A, { clientId: `${A.deviceId}-share` });
    // The group also holds the platform's ingest; the broker hands out messages round-robin.
    for (let seq = 100; seq < 110; seq++) {
      await a.publishAsync(topics.telemetry(A.deviceId), report(seq), { qos: 1 });
    }
    await waitFor(async () => api.got.length > 0, { what: 'a shared-subscription message for svc-api' });
    expect(api.got.every((m) => m.topic === topics.telemetry(A.deviceId))).toBe(true);
    await api.client.endAsync();
  });

  it('does not let device A publish as device B', async () => {
    const watch = await recorder('svc-api', passwords.api, ['devices/+/telemetry', 'devices/+/status']);
    // One connection at a time: they are all client id A on the devices' listener. Each one's own
    // report arrives after its forged ones would have.
    // MQTT 5: the broker says so in the PUBACK (135, not authorised).
    const a5 = await connectDevice(A, { clientId: `${A.deviceId}-v5`, protocolVersion: 5 });
    await expect(a5.publishAsync(topics.telemetry(B.deviceId), 'forged-5', { qos: 1 })).rejects.toMatchObject(
      {
        code: 135,
      },
    );
    await a5.publishAsync(topics.telemetry(A.deviceId), report(200), { qos: 1 });
    await a5.endAsync();
    // MQTT 3.1.1 gets a plain PUBACK and the message is dropped; so is one sent with B's client id.
    const a3 = await connectDevice(A, { clientId: `${A.deviceId}-v3` });
    await a3.publishAsync(topics.telemetry(B.deviceId), 'forged-3', { qos: 1 });
    await a3.publishAsync(topics.status(B.deviceId), 'offline', { qos: 1 });
    await a3.publishAsync(topics.telemetry(A.deviceId), report(201), { qos: 1 });
    await a3.endAsync();
    const asB = await connect(A.deviceId, A.token, { clientId: B.deviceId });
    await asB.publishAsync(topics.telemetry(B.deviceId), 'forged-as-b', { qos: 1 });
    await asB.publishAsync(topics.telemetry(A.deviceId), report(202), { qos: 1 });
    await asB.endAsync();
    await waitFor(
      async () => watch.got.filter((m) => m.topic === topics.telemetry(A.deviceId)).length === 3,
      {
        what: 'A’s own three reports',
      },
    );
    expect(watch.got.filter((m) => m.topic.includes(B.deviceId))).toEqual([]);
    await waitFor(
      async () =>
        (
          await platform.db.query('select 1 from telemetry where device_id = $1 and seq in (200, 201, 202)', [
            A.deviceId,
          ])
        ).rows.length === 3,
      { what: 'A’s reports stored' },
    );
    const forged = await platform.db.query('select 1 from telemetry where device_id = $1', [B.deviceId]);
    expect(forged.rows).toEqual([]);
    await watch.client.endAsync();
  });

  it('does not let device A read device B’s commands, however it subscribes', async () => {
    const b = await connectDevice(B, { clientId: B.deviceId });
    const bGot: string[] = [];
    b.on('message', (topic) => bGot.push(topic));
    await b.subscribeAsync(topics.commands(B.deviceId), { qos: 1 });
    const a = await connectDevice(A, { clientId: A.deviceId });
    const aGot: string[] = [];
    a.on('message', (topic, payload) => aGot.push(`${topic} ${payload.toString()}`));
    await a.subscribeAsync([topics.commands(B.deviceId), 'devices/+/commands', '#'], { qos: 1 });

    const api = await connect('svc-api', passwords.api, { clientId: `svc-api-cmd-${tag}` });
    await api.publishAsync(topics.commands(B.deviceId), 'for-b', { qos: 1 });
    await api.publishAsync(topics.commands(A.deviceId), 'for-a', { qos: 1 });
    await waitFor(async () => bGot.length === 1, { what: 'B to get its command' });
    // A's own command was sent after B's: once it is here, B's would have been too.
    await waitFor(async () => aGot.length > 0, { what: 'A to get its command' });
    expect(aGot).toEqual([`${topics.commands(A.deviceId)} for-a`]);
  });

  it('does not let device A knock device B off by logging in with B’s client id', async () => {
    // B as the protocol asks: client id = device id, a persistent session, subscribed to its commands.
    const b = await connectDevice(B, { clientId: B.deviceId, clean: false });
    let bClosed = false;
    b.on('close', () => {
      bClosed = true;
    });
    const bGot: string[] = [];
    b.on('message', (topic, payload) => bGot.push(`${topic} ${payload.toString()}`));
    await b.subscribeAsync(topics.commands(B.deviceId), { qos: 1 });

    // A, with its own password and B's client id: admitted, under its own client id.
    const asB = await connect(A.deviceId, A.token, { clientId: B.deviceId });
    await asB.publishAsync(topics.status(A.deviceId), 'online', { qos: 1 });
    const api = await connect('svc-api', passwords.api, { clientId: `svc-api-takeover-${tag}` });
    await api.publishAsync(topics.commands(B.deviceId), 'after-a-logged-in', { qos: 1 });
    await waitFor(async () => bGot.length > 0 || bClosed, { what: 'B to get its command (or be dropped)' });
    expect(bClosed, 'B was disconnected when A logged in with its client id').toBe(false);
    expect(b.connected).toBe(true);
    expect(bGot).toEqual([`${topics.commands(B.deviceId)} after-a-logged-in`]);
    expect(asB.connected).toBe(true);
    expect(brokerLog).not.toMatch(new RegExp(`as ${B.deviceId} \\(.*u'${A.deviceId}'\\)`));
    await asB.endAsync();
  });

  it('keeps two svc-ingest workers with their own client ids connected, each with its persistent session', async () => {
    // The ingest replicas: one account, a client id and a persistent session each, one share group.
    const filter = `$share/clientid-${tag}/${topics.ack(A.deviceId)}`;
    const got: [string[], string[]] = [[], []];
    let drops = 0;
    const worker = async (n: 0 | 1) => {
      const client = mqtt.connect(servicesUrl, {
        username: 'svc-ingest',
        password: passwords.ingest,
        clientId: `ingest-w${n}-${tag}`,
        clean: false,
        reconnectPeriod: 0,
        connectTimeout: 5000,
      });
      client.on('error', () => {});
      // Before the CONNACK: a resumed session's messages come right behind it.
      client.on('message', (_topic, payload) => got[n].push(payload.toString()));
      clients.push(client);
      const connack = await new Promise<IConnackPacket>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      client.on('close', () => {
        if (!client.disconnecting) drops += 1;
      });
      await client.subscribeAsync(filter, { qos: 1 });
      return { client, sessionPresent: connack.sessionPresent };
    };
    const first = [await worker(0), await worker(1)];
    expect(first.map((w) => w.sessionPresent)).toEqual([false, false]);

    const a = await connectDevice(A, { clientId: A.deviceId });
    for (let i = 0; i < 10; i++) await a.publishAsync(topics.ack(A.deviceId), `live-${i}`, { qos: 1 });
    await waitFor(async () => got[0].length + got[1].length === 10 || drops > 0, { what: 'the 10 acks' });
    expect(drops, 'a worker was disconnected when the other logged in').toBe(0);
    expect(first.every((w) => w.client.connected)).toBe(true);
    // The group splits the messages between the two: both are members.
    expect(got[0].length).toBeGreaterThan(0);
    expect(got[1].length).toBeGreaterThan(0);

    // Both away: their sessions keep the group's messages for them, and are there when they return.
    await Promise.all(first.map((w) => w.client.endAsync()));
    for (let i = 0; i < 4; i++) await a.publishAsync(topics.ack(A.deviceId), `queued-${i}`, { qos: 1 });
    got[0] = [];
    got[1] = [];
    const again = [await worker(0), await worker(1)];
    expect(again.map((w) => w.sessionPresent)).toEqual([true, true]);
    await waitFor(async () => got[0].length + got[1].length === 4 || drops > 0, {
      what: 'the 4 queued acks',
    });
    expect(drops).toBe(0);
    expect([...got[0], ...got[1]].sort()).toEqual(['queued-0', 'queued-1', 'queued-2', 'queued-3']);
    await Promise.all([a.endAsync(), ...again.map((w) => w.client.endAsync())]);
  });

  it('lets a device provisioned while the broker runs log in after the automatic sync, without a restart', async () => {
    const watch = await connect('svc-api', passwords.api, { clientId: `svc-api-steady-${tag}` });
    let closed = 0;
    watch.on('close', () => {
      closed += 1;
    });
    expect(await loginWorks(C)).toBe(false);
    await provisionDevices(platform.db, [C]);
    await waitFor(() => loginWorks(C), { what: 'C to log in' });
    const c = await connectDevice(C);
    await c.publishAsync(topics.telemetry(C.deviceId), report(1), { qos: 1 });
    await waitFor(
      async () =>
        (await platform.db.query('select 1 from telemetry where device_id = $1', [C.deviceId])).rows
          .length === 1,
      { what: 'C’s report in the database' },
    );
    expect(broker.exitCode).toBeNull();
    expect(closed, 'connections survive the reload').toBe(0);
    expect(brokerLog).toMatch(/mosquitto reloaded/);
  });

  it('refuses a disabled device after the sync and closes its open connection', async () => {
    const b = await connectDevice(B, { clientId: B.deviceId });
    let closed = false;
    b.once('close', () => {
      closed = true;
    });
    expect(await disableDevices(platform.db, [B.deviceId])).toEqual([B.deviceId]);
    // Before any probe: a login of B's would take this connection over.
    await waitFor(async () => closed, { what: 'the broker to close the disabled B’s connection' });
    await waitFor(async () => !(await loginWorks(B)), { what: 'B to be refused' });
    expect(await refused(connectDevice(B, { clientId: `${B.deviceId}-again` }))).toBe(true);
    expect(await loginWorks(A), 'the others stay').toBe(true);
    const file = readFileSync(join(work, 'registry/devices.passwd'), 'utf8');
    expect(file).not.toContain(`${B.deviceId}:`);
  });

  it('npm run broker:sync writes the enabled devices from the database, and only rewrites on change', async () => {
    // Its own database, so that the embedded engine's files are not shared with the running platform.
    const scratch = await scratchDatabase();
    const dataDir = scratch.dataDir ?? mkdtempSync(join(tmpdir(), 'rt-broker-sync-'));
    const file = join(dataDir, 'devices.passwd');
    try {
      const db = await scratch.open();
      try {
        await migrate(db);
        await provisionDevices(db, [A, B, C]);
        await disableDevices(db, [B.deviceId]);
      } finally {
        await db.close();
      }
      const env = { ...process.env, DATA_DIR: dataDir, DATABASE_URL: realDatabase ? scratch.url : '' };
      const run = () =>
        exec('npm', ['run', '--silent', 'broker:sync', '--', '--file', file], { cwd: root, env });
      expect((await run()).stdout).toMatch(/^wrote 2 devices in /);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines.map((l) => l.split(':')[0])).toEqual([A.deviceId, C.deviceId]);
      for (const [line, d] of [
        [lines[0], A],
        [lines[1], C],
      ] as const) {
        expect(mosquittoPasswordMatches(d.token, line?.slice(line.indexOf(':') + 1) ?? '')).toBe(true);
      }
      expect((await run()).stdout).toMatch(/^unchanged: 2 devices in /);
      await expect(
        exec('npm', ['run', '--silent', 'broker:sync'], {
          cwd: root,
          env: { ...env, MOSQUITTO_PASSWORD_FILE: '' },
        }),
      ).rejects.toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/MOSQUITTO_PASSWORD_FILE is not set/),
      });
    } finally {
      await scratch.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
