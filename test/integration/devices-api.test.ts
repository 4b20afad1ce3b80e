/**
 * The device registry over HTTP on a running platform: provisioning (idempotent, all or nothing,
 * reasons for what is refused), reading without credentials, disabling and enabling again — each
 * audited in the same transaction, and each followed by the broker's password file as in-process
 * provisioning is. On the embedded broker, whether the box can log in is tried for real.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDeviceToken } from '../../db/devices.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName, realBroker } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${Date.now() % 100000}`;
const device = (n: number, token = `token-${run}-${n}`.padEnd(32, '0')) => ({
  deviceId: `DV${run}-${n}`,
  token,
  machine: {
    id: `MDV${run}-${n}`,
    make: 'XCMG',
    model: 'XE215D',
    type: 'excavator',
    serial: `PIN${run}-${n}`,
    year: 2023,
  },
});

interface AuditEntry {
  seq: number;
  actor: string;
  action: string;
  subject: string;
  detail: Record<string, unknown>;
}

describe(`devices API on ${engineName}`, () => {
  let platform: TestPlatform;
  let work: string;
  let passwordFile: string;
  let admin: { token: string; user: { username: string } };

  const call = async (method: string, path: string, body?: unknown, token = admin.token) => {
    const res = await fetch(`${platform.url}${path}`, {
      method,
      headers: {
        ...authHeader(token),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text, json: text ? JSON.parse(text) : null };
  };
  const auditAfter = async (seq: number): Promise<AuditEntry[]> => {
    const res = await call('GET', `/api/audit?after=${seq}&limit=1000`);
    expect(res.status).toBe(200);
    return res.json.entries as AuditEntry[];
  };
  const auditHead = async () => (await auditAfter(0)).at(-1)?.seq ?? 0;
  const fileUsers = () =>
    readFileSync(passwordFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(':')[0]);
  /** The password file is rewritten shortly after a change is committed (broker/mosquitto-sync.ts). */
  const fileGets = (id: string, present = true) =>
    waitFor(async () => fileUsers().includes(id) === present, {
      what: `${id} ${present ? 'in' : 'out of'} the password file`,
    });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'devices-api-'));
    passwordFile = join(work, 'devices.passwd');
    platform = await startTestPlatform({ MOSQUITTO_PASSWORD_FILE: passwordFile });
    admin = await signedInAs(platform.url, platform.db, 'admin');
  });
  afterAll(async () => {
    await platform?.teardown();
    rmSync(work, { recursive: true, force: true });
  });

  it('provisions devices with their machines, audits each, and updates the broker password file', async () => {
    const before = await auditHead();
    const [a, b] = [device(1), device(2)];
    const res = await call('POST', '/api/devices', { devices: [a, b] });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ created: [a.deviceId, b.deviceId], refreshed: [] });

    const got = await call('GET', `/api/devices/${a.deviceId}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({
      id: a.deviceId,
      disabledAt: null,
      machine: a.machine,
      online: null,
      lastFixAt: null,
    });
    expect(got.json.installedAt).toEqual(expect.any(String));
    // Nothing of the credentials: not the token, not any hash or key.
    expect(got.text).not.toContain(a.token);
    expect(got.text).not.toMatch(/hash|command_?key|\$7\$/i);

    await fileGets(a.deviceId);
    expect(fileUsers()).toEqual(expect.arrayContaining([a.deviceId, b.deviceId]));
    expect(await verifyDeviceToken(platform.db, a.deviceId, a.token)).toBe(true);

    const entries = await auditAfter(before);
    expect(entries.map((e) => [e.actor, e.action, e.subject, e.detail])).toEqual([
      [
        admin.user.username,
        'device.provisioned',
        `device:${a.deviceId}`,
        { created: true, machineId: a.machine.id, serial: a.machine.serial },
      ],
      [
        admin.user.username,
        'device.provisioned',
        `device:${b.deviceId}`,
        { created: true, machineId: b.machine.id, serial: b.machine.serial },
      ],
    ]);
    expect(JSON.stringify(entries)).not.toContain(a.token);
    const verify = await call('GET', '/api/audit/verify');
    expect(verify.json).toMatchObject({ ok: true });
  });

  it('provisions again idempotently: the new token replaces the old, the installation stays one', async () => {
    const before = await auditHead();
    const again = device(1, `rotated-${run}`.padEnd(32, '0'));
    const res = await call('POST', '/api/devices', {
      devices: [{ ...again, machine: { ...again.machine, year: 2024 } }],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ created: [], refreshed: [again.deviceId] });
    expect(await verifyDeviceToken(platform.db, again.deviceId, again.token)).toBe(true);
    expect(await verifyDeviceToken(platform.db, again.deviceId, device(1).token)).toBe(false);
    const got = await call('GET', `/api/devices/${again.deviceId}`);
    expect(got.json.machine).toEqual({ ...again.machine, year: 2024 });
    const { rows } = await platform.db.query<{ n: number }>(
      'select count(*)::int as n from installation where device_id = $1',
      [again.deviceId],
    );
    expect(rows[0]!.n).toBe(1);
    const entries = await auditAfter(before);
    expect(entries.map((e) => [e.action, e.subject, e.detail.created])).toEqual([
      ['device.provisioned', `device:${again.deviceId}`, false],
    ]);
  });

  it('refuses a batch with any invalid device, naming every problem, and writes nothing', async () => {
    const before = await auditHead();
    const good = device(10);
    const reserved = { ...device(11), deviceId: 'svc-ingest' };
    const takenSerial = {
      ...device(12),
      machine: { ...device(12).machine, serial: device(2).machine.serial },
    };
    const emptyToken = device(13, '');
    const res = await call('POST', '/api/devices', { devices: [good, reserved, takenSerial, emptyToken] });
    expect(res.status).toBe(422);
    expect(res.json.message).toContain('"svc-ingest": ids starting with svc- are reserved');
    expect(res.json.message).toContain(`"${emptyToken.deviceId}": the token must be 32 to 256 characters`);

    // The serial check needs the database: alone in a batch it is the reason given.
    const serial = await call('POST', '/api/devices', { devices: [good, takenSerial] });
    expect(serial.status).toBe(422);
    expect(serial.json.message).toContain(
      `serial "${device(2).machine.serial}" belongs to machine "${device(2).machine.id}"`,
    );
    const twice = await call('POST', '/api/devices', {
      devices: [good, { ...good, deviceId: `${good.deviceId}b` }],
    });
    expect(twice.status).toBe(422);
    expect(twice.json.message).toContain(`machine id "${good.machine.id}": listed twice`);

    expect((await call('GET', `/api/devices/${good.deviceId}`)).status).toBe(404);
    expect(await auditAfter(before)).toEqual([]);
    expect(fileUsers()).not.toContain(good.deviceId);
  });

  it('answers a malformed body with 400 and the fields at fault', async () => {
    const bad = await call('POST', '/api/devices', {
      devices: [{ deviceId: 'X1', token: 't', machine: { id: 'M', make: 'Sany', year: 'new' } }],
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json.errors)).toMatch(/model|serial|year/);
    expect((await call('POST', '/api/devices', { devices: [] })).status).toBe(400);
  });

  it('disables a device once: audited, out of the password file, its token refused; again changes nothing', async () => {
    const d = device(2);
    const before = await auditHead();
    const res = await call('POST', `/api/devices/${d.deviceId}/disable`, { reason: 'box removed' });
    expect(res.status, res.text).toBe(200);
    expect(res.json.changed).toBe(true);
    expect(res.json.device.disabledAt).toEqual(expect.any(String));
    await fileGets(d.deviceId, false);
    expect(fileUsers()).toContain(device(1).deviceId);
    expect(await verifyDeviceToken(platform.db, d.deviceId, d.token)).toBe(false);

    // Without a body, too.
    const again = await call('POST', `/api/devices/${d.deviceId}/disable`);
    expect(again.status, again.text).toBe(200);
    expect(again.json.changed).toBe(false);
    expect(again.json.device.disabledAt).toBe(res.json.device.disabledAt);

    const entries = await auditAfter(before);
    expect(entries.map((e) => [e.actor, e.action, e.subject, e.detail])).toEqual([
      [admin.user.username, 'device.disabled', `device:${d.deviceId}`, { reason: 'box removed' }],
    ]);
    expect((await call('POST', '/api/devices/NO-SUCH-BOX/disable', {})).status).toBe(404);
    expect((await call('GET', '/api/devices/NO-SUCH-BOX')).status).toBe(404);
  });

  it('enables a disabled device: audited, back in the password file, its token accepted; again changes nothing', async () => {
    const d = device(3);
    expect((await call('POST', '/api/devices', { devices: [d] })).status).toBe(200);
    // The test broker checks device logins only when it is the embedded one (the real one in the
    // tests runs without authentication); there, the box is tried at CONNECT.
    const brokerLogin = async () => {
      if (realBroker) return null;
      try {
        const c = await mqtt.connectAsync(platform.mqttUrl, {
          clientId: d.deviceId,
          username: d.deviceId,
          password: d.token,
          reconnectPeriod: 0,
        });
        await c.endAsync();
        return true;
      } catch (e) {
        if (/Not authorized|Bad username or password/i.test(String(e))) return false;
        throw e;
      }
    };
    expect(await brokerLogin()).not.toBe(false);
    expect((await call('POST', `/api/devices/${d.deviceId}/disable`, { reason: 'lost' })).status).toBe(200);
    expect(await brokerLogin()).not.toBe(true);
    await fileGets(d.deviceId, false);

    const before = await auditHead();
    const res = await call('POST', `/api/devices/${d.deviceId}/enable`, { reason: 'box found' });
    expect(res.status, res.text).toBe(200);
    expect(res.json.changed).toBe(true);
    expect(res.json.device).toMatchObject({ id: d.deviceId, disabledAt: null, machine: d.machine });
    await fileGets(d.deviceId);
    expect(await verifyDeviceToken(platform.db, d.deviceId, d.token)).toBe(true);
    expect(await brokerLogin()).not.toBe(false);
    if (!realBroker) expect(await brokerLogin()).toBe(true);

    // Idempotent, without a body too: nothing changes, nothing is recorded.
    const again = await call('POST', `/api/devices/${d.deviceId}/enable`);
    expect(again.status, again.text).toBe(200);
    expect(again.json.changed).toBe(false);
    expect(again.json.device.disabledAt).toBeNull();

    const entries = await auditAfter(before);
    expect(entries.map((e) => [e.actor, e.action, e.subject, e.detail])).toEqual([
      [admin.user.username, 'device.enabled', `device:${d.deviceId}`, { reason: 'box found' }],
    ]);
    expect((await call('POST', '/api/devices/NO-SUCH-BOX/enable', {})).status).toBe(404);
    expect((await call('POST', '/api/devices/NO-SUCH-BOX/enable')).json).toEqual({
      message: 'device NO-SUCH-BOX not found',
    });
  });

  it('lets every role read a device and only an admin provision, disable or enable one', async () => {
    const risk = await signedInAs(platform.url, platform.db, 'risk_manager');
    expect((await call('GET', `/api/devices/${device(1).deviceId}`, undefined, risk.token)).status).toBe(200);
    expect((await call('POST', '/api/devices', { devices: [device(20)] }, risk.token)).status).toBe(403);
    expect((await call('POST', `/api/devices/${device(1).deviceId}/disable`, {}, risk.token)).status).toBe(
      403,
    );
    for (const role of ['collector', 'recovery_agent', 'risk_manager', 'auditor'] as const) {
      const who = await signedInAs(platform.url, platform.db, role);
      const res = await call('POST', `/api/devices/${device(2).deviceId}/enable`, {}, who.token);
      expect(res.status, role).toBe(403);
    }
    expect((await call('GET', `/api/devices/${device(2).deviceId}`)).json.disabledAt).toEqual(
      expect.any(String),
    );
  });
});
