/**
 * MQTT 5 boxes against a real Mosquitto (aedes speaks only 3.1.1). Skipped where no mosquitto
 * binary is installed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTelemetryMessage } from '../../shared/protocol.ts';
import { NO_FAULTS } from '../../simulators/faults.ts';
import { createFleet } from '../../simulators/fleet.ts';
import { runFleet } from '../../simulators/run-fleet.ts';
import { listen, waitFor } from '../support/sim-broker.ts';

function mosquittoPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v mosquitto'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const binary = mosquittoPath();

describe.skipIf(!binary)('MQTT 5 devices on Mosquitto', () => {
  let broker: ChildProcess;
  let url = '';

  beforeAll(async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sim-mosquitto-'));
    const conf = join(dir, 'mosquitto.conf');
    writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
    broker = spawn(binary!, ['-c', conf], { stdio: 'ignore' });
    url = `mqtt://127.0.0.1:${port}`;
    const deadline = Date.now() + 5000;
    while (!(await accepts(port))) {
      if (Date.now() > deadline) throw new Error('mosquitto did not start listening');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  afterAll(() => {
    broker?.kill('SIGTERM');
  });

  it('connects, reports and stops cleanly with protocol version 5', async () => {
    const platform = await listen(url);
    const start = Date.now() - 3_600_000;
    // No box faults and no story: a box starting in a coverage gap or dark would report minutes
    // later, and this test is about the protocol version (faults: test/integration/sim-fleet.test.ts).
    const machines = createFleet({ devices: 5, seed: 5, start, story: false, faults: NO_FAULTS });
    const fleet = runFleet({
      mqttUrl: url,
      machines,
      speed: 600,
      startTime: start,
      protocolVersion: 5,
      tickMs: 50,
    });
    await fleet.ready;
    await waitFor(
      () =>
        new Set(platform.heard.filter((h) => h.topic.endsWith('/telemetry')).map((h) => h.topic)).size === 5,
      10_000,
      'reports from all five',
    );
    const rejected = platform.heard
      .filter((h) => h.topic.endsWith('/telemetry'))
      .flatMap((h) => parseTelemetryMessage(h.payload).rejected);
    expect(rejected).toEqual([]);
    await fleet.stop();
    await waitFor(
      () => platform.heard.filter((h) => h.topic.endsWith('/status') && h.payload === 'offline').length === 5,
      5000,
      'offline',
    );
    await platform.client.endAsync();
  });
});
