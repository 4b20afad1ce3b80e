/**
 * Device keys at rest and their rotation: command keys wrapped under the key-encryption key, device
 * tokens of at least 128 bits kept as peppered HMACs, a device's key rolled, every key re-wrapped
 * under a new KEK (route and CLI), and plain keys of older versions wrapped at start.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDeviceToken } from '../../db/devices.ts';
import { KEK_FILE, keyring, openCommandKey } from '../../db/keys.ts';
import { startPlatform } from '../../main.ts';
import { commandKeyFor } from '../../shared/credentials.ts';
import { wrappedUnder } from '../../shared/key-wrap.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

const run = promisify(execFile);
const tag = randomBytes(3).toString('hex').toUpperCase();
const token = (n: number) => createHash('sha256').update(`${tag}-${n}`).digest('hex').slice(0, 32);
const device = (n: number, t = token(n)) => ({
  deviceId: `KEY${tag}-${n}`,
  token: t,
  machine: {
    id: `MK${tag}-${n}`,
    make: 'Sany',
    model: 'SY75C',
    type: 'excavator',
    serial: `PK${tag}-${n}`,
    year: 2022,
  },
});

describe(`device keys (${engineName})`, () => {
  let platform: TestPlatform;
  let admin: string;

  const call = async (method: string, path: string, body?: unknown, bearer = admin) => {
    const res = await fetch(new URL(path, platform.url), {
      method,
      headers: {
        ...authHeader(bearer),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> & { message?: string } };
  };
  const stored = async (deviceId: string) =>
    (
      await platform.db.query<{ token_hash: string; command_key: string }>(
        'select token_hash, command_key from device where id = $1',
        [deviceId],
      )
    ).rows[0]!;
  const auditOf = async (action: string) =>
    (
      await platform.db.query<{ actor: string; subject: string; detail: Record<string, unknown> }>(
        'select actor, subject, detail from audit_log where action = $1 order by seq',
        [action],
      )
    ).rows;
  /** The KEK the platform runs with: configured, or the one it made in DATA_DIR. */
  const currentKek = () =>
    platform.current.config.KEY_ENCRYPTION_KEY ??
    readFileSync(join(platform.current.config.DATA_DIR, KEK_FILE), 'utf8').trim();
  const restartWith = async (keys: { KEY_ENCRYPTION_KEY?: string; KEY_ENCRYPTION_KEY_PREVIOUS?: string }) => {
    await platform.current.stop();
    platform.current = await startPlatform({ ...platform.current.config, ...keys });
    admin = (await signedInAs(platform.url, platform.db, 'admin')).token;
  };

  beforeAll(async () => {
    platform = await startTestPlatform();
    admin = (await signedInAs(platform.url, platform.db, 'admin')).token;
  });
  afterAll(async () => {
    await platform?.teardown();
  });

  it('keeps neither the command key nor an unsalted hash of the token in the database', async () => {
    const a = device(1);
    // The same token on a second box (a careless installer) must not give the same hash.
    const b = device(2, a.token);
    expect((await call('POST', '/api/devices', { devices: [a, b] })).status).toBe(200);
    const [ra, rb] = [await stored(a.deviceId), await stored(b.deviceId)];
    const plainKey = commandKeyFor(a.token);
    const sha256 = createHash('sha256').update(a.token).digest('hex');
    for (const r of [ra, rb]) {
      expect(JSON.stringify(r)).not.toContain(plainKey);
      expect(JSON.stringify(r)).not.toContain(sha256);
      expect(r.command_key).toMatch(/^kw1\$/);
      expect(r.token_hash).toMatch(/^hmac-sha256\$/);
    }
    expect(ra.token_hash).not.toBe(rb.token_hash);
    // Nothing in the database opens them: the pepper is wrapped too.
    const { rows } = await platform.db.query<{ wrapped: string }>('select wrapped from platform_key');
    expect(rows.length).toBe(1);
    expect(rows[0]!.wrapped).toMatch(/^kw1\$/);
    // With the KEK they open, each only on its own row.
    const ring = keyring(platform.db);
    expect(openCommandKey(ring, a.deviceId, ra.command_key)).toBe(plainKey);
    expect(() => openCommandKey(ring, b.deviceId, ra.command_key)).toThrow(/does not open/);
    expect(await verifyDeviceToken(platform.db, a.deviceId, a.token)).toBe(true);
    expect(await verifyDeviceToken(platform.db, b.deviceId, a.token)).toBe(true);
    expect(await verifyDeviceToken(platform.db, a.deviceId, token(99))).toBe(false);
  });

  it('refuses device tokens under 128 bits or without randomness, naming the device', async () => {
    for (const [t, problem] of [
      ['x', /32 to 256 characters/],
      ['0123456789abcdef0123456789abcde', /32 to 256 characters/],
      ['a'.repeat(32), /not random/],
      ['ab'.repeat(16), /not random/],
      [`${token(3).slice(0, 20)} ${token(3).slice(0, 20)}`, /printable ASCII/],
    ] as const) {
      const d = device(3, t);
      const res = await call('POST', '/api/devices', { devices: [d] });
      expect(res.status, t).toBe(422);
      expect(res.json.message).toContain(`"${d.deviceId}"`);
      expect(res.json.message).toMatch(problem);
    }
    expect((await call('GET', `/api/devices/${device(3).deviceId}`)).status).toBe(404);
  });

  it("rolls a device's key: a new token once, the old one refused, the key changed, audited", async () => {
    const d = device(4);
    expect((await call('POST', '/api/devices', { devices: [d] })).status).toBe(200);
    const agent = (await signedInAs(platform.url, platform.db, 'risk_manager')).token;
    expect((await call('POST', `/api/devices/${d.deviceId}/roll-key`, {}, agent)).status).toBe(403);
    expect((await call('POST', `/api/devices/KEY${tag}-404/roll-key`, {})).status).toBe(404);

    const res = await call('POST', `/api/devices/${d.deviceId}/roll-key`, {
      reason: 'box opened in the field',
    });
    expect(res.status).toBe(200);
    const fresh = res.json.token as string;
    expect(fresh).toMatch(/^[0-9a-f]{32}$/);
    expect(await verifyDeviceToken(platform.db, d.deviceId, d.token)).toBe(false);
    expect(await verifyDeviceToken(platform.db, d.deviceId, fresh)).toBe(true);
    const r = await stored(d.deviceId);
    expect(openCommandKey(keyring(platform.db), d.deviceId, r.command_key)).toBe(commandKeyFor(fresh));
    const audit = (await auditOf('device.key_rolled')).filter((e) => e.subject === `device:${d.deviceId}`);
    expect(audit).toEqual([
      {
        actor: expect.stringMatching(/^admin/),
        subject: `device:${d.deviceId}`,
        detail: { reason: 'box opened in the field' },
      },
    ]);
    expect(JSON.stringify(audit)).not.toContain(fresh);
  });

  it('re-wraps every key under a new KEK; the old KEK alone no longer starts the platform', async () => {
    const d = device(5);
    expect((await call('POST', '/api/devices', { devices: [d] })).status).toBe(200);
    const oldKek = currentKek();
    const newKek = randomBytes(32).toString('base64');
    // The new key alone does not open what the old one wrapped: the start says so.
    await platform.current.stop();
    await expect(startPlatform({ ...platform.current.config, KEY_ENCRYPTION_KEY: newKek })).rejects.toThrow(
      /KEY_ENCRYPTION_KEY does not open this database's keys/,
    );
    platform.current = await startPlatform({ ...platform.current.config });
    await restartWith({ KEY_ENCRYPTION_KEY: newKek, KEY_ENCRYPTION_KEY_PREVIOUS: oldKek });
    const fingerprint = keyring(platform.db).current.fingerprint;
    // Until re-wrapped, keys under the old KEK still open (every node has it as the previous one).
    expect(await verifyDeviceToken(platform.db, d.deviceId, d.token)).toBe(true);
    const collector = (await signedInAs(platform.url, platform.db, 'collector')).token;
    expect((await call('POST', '/api/devices/rewrap-keys', {}, collector)).status).toBe(403);
    const res = await call('POST', '/api/devices/rewrap-keys', {});
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ wrappedPlain: 0, fingerprint });
    expect(res.json.rewrapped).toBeGreaterThanOrEqual(2); // the devices and the pepper
    const { rows } = await platform.db.query<{ k: string }>(
      'select command_key as k from device where command_key is not null union all select wrapped from platform_key',
    );
    expect(rows.map((r) => wrappedUnder(r.k))).toEqual(rows.map(() => fingerprint));
    expect((await auditOf('keys.rewrapped')).at(-1)).toMatchObject({
      actor: expect.stringMatching(/^admin/),
      subject: `kek:${fingerprint}`,
    });
    // Re-wrapping again finds nothing to do.
    expect((await call('POST', '/api/devices/rewrap-keys', {})).json).toMatchObject({ rewrapped: 0 });

    // Now the new key alone runs the platform, and the old one alone does not.
    await restartWith({ KEY_ENCRYPTION_KEY: newKek, KEY_ENCRYPTION_KEY_PREVIOUS: undefined });
    expect(await verifyDeviceToken(platform.db, d.deviceId, d.token)).toBe(true);
    expect(openCommandKey(keyring(platform.db), d.deviceId, (await stored(d.deviceId)).command_key)).toBe(
      commandKeyFor(d.token),
    );
    await platform.current.stop();
    await expect(startPlatform({ ...platform.current.config, KEY_ENCRYPTION_KEY: oldKek })).rejects.toThrow(
      /does not open/,
    );
    platform.current = await startPlatform({ ...platform.current.config, KEY_ENCRYPTION_KEY: newKek });
  });

  it('wraps a command key an older version left in plain text at the next start, audited', async () => {
    const d = device(6);
    expect((await call('POST', '/api/devices', { devices: [d] })).status).toBe(200);
    await platform.db.query('update device set command_key = $2 where id = $1', [
      d.deviceId,
      commandKeyFor(d.token),
    ]);
    await restartWith({});
    const r = await stored(d.deviceId);
    expect(r.command_key).toMatch(/^kw1\$/);
    expect(openCommandKey(keyring(platform.db), d.deviceId, r.command_key)).toBe(commandKeyFor(d.token));
    expect((await auditOf('keys.wrapped')).at(-1)).toMatchObject({
      actor: 'system',
      detail: { wrappedPlain: 1 },
    });
  });

  it('rolls a key and re-wraps from the command line, audited as the operator', async () => {
    const d = device(7);
    expect((await call('POST', '/api/devices', { devices: [d] })).status).toBe(200);
    const config = platform.current.config;
    const kek = currentKek();
    // Embedded, PGlite is one process's: the CLI runs while the platform is stopped.
    await platform.current.stop();
    const env = {
      ...process.env,
      DATA_DIR: config.DATA_DIR,
      DATABASE_URL: config.DATABASE_URL ?? '',
      KEY_ENCRYPTION_KEY: kek,
    };
    const keys = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'api/devices/keys-cli.ts', ...args], { env });
    const rolled = await keys('roll', d.deviceId, '--reason', 'token leaked');
    const fresh = /new token \(shown once\): ([0-9a-f]{32})/.exec(rolled.stdout)?.[1];
    expect(fresh).toBeDefined();
    expect((await keys('rewrap')).stdout).toMatch(/re-wrapped 0 keys/);
    await expect(keys('roll', `KEY${tag}-404`)).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/no device/),
    });
    await expect(keys('spin')).rejects.toMatchObject({ code: 2 });
    platform.current = await startPlatform({ ...config });
    expect(await verifyDeviceToken(platform.db, d.deviceId, d.token)).toBe(false);
    expect(await verifyDeviceToken(platform.db, d.deviceId, fresh!)).toBe(true);
    const audit = await auditOf('device.key_rolled');
    expect(audit.at(-1)).toMatchObject({
      actor: expect.stringMatching(/^cli:/),
      subject: `device:${d.deviceId}`,
    });
  });
});
