/**
 * What a platform started with nothing configured exposes: HTTP and the embedded broker on the
 * loopback interface only (HOST opens them), and simulated boxes whose tokens nobody can compute
 * from the seed — random per data folder, kept across restarts, fixed only when SIM_TOKEN_KEY asks.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIM_TOKEN_KEY_FILE } from '../../api/auth/secret.ts';
import { type Platform, startPlatform } from '../../main.ts';
import { deviceTokenFor, seedTokenKey } from '../../simulators/identity.ts';
import { runUnique } from '../support/broker-sessions.ts';
import { realBroker, scratchDatabase, TEST_KEY_ENCRYPTION_KEY } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

/** An address of this machine that others on its network reach; none on a machine without one. */
const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

/** Whether a TCP connection to host:port is accepted. */
const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = tcpConnect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

const portOf = (url: string) => Number(new URL(url).port);

describe.skipIf(!lanAddress)(`listening addresses (this machine's network address ${lanAddress})`, () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform();
  });
  afterAll(() => platform?.teardown());

  it('serves HTTP and the embedded broker on 127.0.0.1 only by default', async () => {
    const address = lanAddress as string;
    expect(new URL(platform.url).hostname).toBe('127.0.0.1');
    expect(await accepts('127.0.0.1', portOf(platform.url))).toBe(true);
    expect(await accepts(address, portOf(platform.url))).toBe(false);
    if (!realBroker) {
      expect(await accepts('127.0.0.1', portOf(platform.mqttUrl))).toBe(true);
      expect(await accepts(address, portOf(platform.mqttUrl))).toBe(false);
    }
  });

  it('opens both to the network on HOST=0.0.0.0, with the demo sign-ins only when DEMO_PASSWORDS=1', async () => {
    // The embedded database has the demo sign-ins: refused before anything starts.
    await expect(startTestPlatform({ HOST: '0.0.0.0', DATABASE_URL: undefined })).rejects.toThrow(
      /HOST: 0\.0\.0\.0 opens the platform to the network.*DEMO_PASSWORDS=1/s,
    );
    const open = await startTestPlatform({ HOST: '0.0.0.0', DEMO_PASSWORDS: true });
    try {
      expect(await accepts(lanAddress as string, portOf(open.url))).toBe(true);
      if (!realBroker) expect(await accepts(lanAddress as string, portOf(open.mqttUrl))).toBe(true);
    } finally {
      await open.teardown();
    }
  });
});

describe('simulated device tokens', () => {
  const scratches: { dataDir: string; url: string | undefined; drop(): Promise<void> }[] = [];
  const idPrefix = runUnique('TOK');
  type Folder = (typeof scratches)[number];
  const start = async ({ dataDir, url }: Folder, extra: { SIM_TOKEN_KEY?: string } = {}) =>
    startPlatform({
      PORT: 0,
      MQTT_PORT: 0,
      // The fleet alone: ingest and the api are not what this is about.
      ROLES: ['sim'],
      SIM_DEVICES: 1,
      SIM_SEED: 42,
      SIM_ID_PREFIX: idPrefix,
      DATA_DIR: dataDir,
      DATABASE_URL: url,
      ...(url ? { KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY } : {}),
      LOG_LEVEL: 'silent',
      ...extra,
    });
  /** A data folder of its own, with a database of its own (embedded: in that folder). */
  const folder = async (): Promise<Folder> => {
    const scratch = await scratchDatabase();
    const dataDir = scratch.dataDir ?? mkdtempSync(join(tmpdir(), 'rt-tokens-'));
    const f = {
      dataDir,
      url: scratch.url,
      drop: async () => {
        await scratch.drop();
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
    scratches.push(f);
    return f;
  };
  const tokenOf = async (f: Folder, extra: { SIM_TOKEN_KEY?: string } = {}) => {
    const platform: Platform = await start(f, extra);
    try {
      const example = platform.exampleDevice;
      expect(example?.deviceId).toBe(`${idPrefix}-000001`);
      return example?.token ?? '';
    } finally {
      await platform.stop();
    }
  };
  afterAll(async () => {
    for (const f of scratches) await f.drop();
  });

  it('are random per data folder, kept across a restart, and not the ones the seed gives', async () => {
    const first = await folder();
    const token = await tokenOf(first);
    expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(token).not.toBe(deviceTokenFor(seedTokenKey(42), `${idPrefix}-000001`));
    const keyFile = join(first.dataDir, SIM_TOKEN_KEY_FILE);
    expect(readFileSync(keyFile, 'utf8').trim().length).toBeGreaterThanOrEqual(32);
    expect(statSync(keyFile).mode & 0o077).toBe(0);
    expect(await tokenOf(first)).toBe(token);
    expect(await tokenOf(await folder())).not.toBe(token);
  });

  it('follow SIM_TOKEN_KEY when a test asks for tokens it can compute', async () => {
    const key = 'a-fixed-key-for-this-test';
    const f = await folder();
    expect(await tokenOf(f, { SIM_TOKEN_KEY: key })).toBe(deviceTokenFor(key, `${idPrefix}-000001`));
    expect(existsSync(join(f.dataDir, SIM_TOKEN_KEY_FILE))).toBe(false);
  });
});
