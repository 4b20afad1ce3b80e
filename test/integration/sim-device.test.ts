/** The box firmware model against a real (in-process) broker. */
import { afterEach, describe, expect, it } from 'vitest';
import { parseTelemetryMessage, type Telemetry } from '../../shared/protocol.ts';
import { SimDevice } from '../../simulators/device.ts';
import { listen, startBroker, waitFor } from '../support/sim-broker.ts';

const T0 = Date.now() - 60_000;
const report = (seq: number): Telemetry => ({ v: 1, seq, ts: T0 + seq * 1000, lat: 34.2, lon: 117.2 });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(id = 'SIM-TEST01', port = 0) {
  const broker = await startBroker(port);
  const platform = await listen(broker.url);
  const device = new SimDevice({
    deviceId: id,
    token: 'a'.repeat(32),
    mqttUrl: broker.url,
    reconnectPeriodMs: 200,
  });
  cleanups.push(async () => {
    await device.stop(1000);
    await platform.client.endAsync(true);
    await broker.close().catch(() => {});
  });
  return { broker, platform, device };
}

const statusOf = (heard: { topic: string; payload: string }[], id: string) =>
  heard.filter((h) => h.topic === `devices/${id}/status`).map((h) => h.payload);

describe('SimDevice', () => {
  it('connects as itself, says online (retained) and publishes telemetry at QoS 1', async () => {
    const { broker, platform, device } = await setup();
    const seen: { id: string; user: string; pass: string }[] = [];
    broker.broker.authenticate = (client, username, password, done) => {
      seen.push({ id: client.id, user: username ?? '', pass: password?.toString() ?? '' });
      done(null, true);
    };
    device.start();
    await waitFor(() => device.connected, 5000, 'connect');
    device.publishTelemetry(report(0));
    await waitFor(() => platform.heard.some((h) => h.topic.endsWith('/telemetry')), 5000, 'telemetry');
    expect(seen).toEqual([{ id: 'SIM-TEST01', user: 'SIM-TEST01', pass: 'a'.repeat(32) }]);
    expect(statusOf(platform.heard, 'SIM-TEST01')).toEqual(['online']);
    const t = platform.heard.find((h) => h.topic === 'devices/SIM-TEST01/telemetry')!;
    expect(parseTelemetryMessage(t.payload).reports).toEqual([report(0)]);
  });

  it('lost link: the last will says offline; the buffer goes up as one array on return', async () => {
    const { platform, device } = await setup();
    device.start();
    await waitFor(() => device.connected, 5000, 'connect');
    device.dropLink();
    await waitFor(() => statusOf(platform.heard, 'SIM-TEST01').includes('offline'), 5000, 'last will');
    for (let i = 0; i < 5; i++) device.publishTelemetry(report(i));
    expect(device.stats().buffered).toBe(5);
    device.restoreLink();
    await waitFor(() => platform.heard.some((h) => h.topic.endsWith('/telemetry')), 5000, 'backlog');
    const backlog = JSON.parse(platform.heard.find((h) => h.topic.endsWith('/telemetry'))!.payload);
    expect(backlog.map((r: Telemetry) => r.seq)).toEqual([4, 3, 2, 1, 0]);
    expect(statusOf(platform.heard, 'SIM-TEST01')).toEqual(['online', 'offline', 'online']);
    expect(device.stats()).toMatchObject({ buffered: 0, backlogMessages: 1, reports: 5 });
  });

  it('resends what was in flight when the link dropped, and still stops at once', async () => {
    const { platform, device } = await setup('SIM-TEST05');
    device.start();
    await waitFor(() => device.connected, 5000, 'connect');
    device.publishTelemetry(report(1));
    device.dropLink(); // before the PUBACK can arrive
    device.restoreLink();
    await waitFor(() => device.connected && device.stats().buffered === 0, 5000, 'reconnect');
    await waitFor(
      () => platform.heard.some((h) => h.topic.endsWith('/telemetry') && h.payload.includes('"seq":1')),
      5000,
      'resend',
    );
    const t = Date.now();
    await device.stop();
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('survives a broker crash and uploads what it kept meanwhile', async () => {
    const { broker, device } = await setup('SIM-TEST02');
    device.start();
    await waitFor(() => device.connected, 5000, 'connect');
    await broker.close();
    await waitFor(() => !device.connected, 5000, 'disconnect');
    device.publishTelemetry(report(7));
    device.publishTelemetry(report(8));
    const again = await startBroker(broker.port);
    cleanups.push(() => again.close().catch(() => {}));
    const platform = await listen(again.url);
    cleanups.push(() => platform.client.endAsync(true));
    await waitFor(() => platform.heard.some((h) => h.topic.endsWith('/telemetry')), 10_000, 'upload');
    const got = JSON.parse(platform.heard.find((h) => h.topic.endsWith('/telemetry'))!.payload);
    expect(got.map((r: Telemetry) => r.seq)).toEqual([8, 7]);
  });

  it('answers every command with unsupported until commands are implemented', async () => {
    const { platform, device } = await setup('SIM-TEST03');
    device.start();
    await waitFor(() => device.connected, 5000, 'connect');
    await waitFor(() => statusOf(platform.heard, 'SIM-TEST03').includes('online'), 5000, 'online');
    // The subscription is made on connect; give the SUBACK a moment by waiting for online first.
    await platform.client.publishAsync(
      'devices/SIM-TEST03/commands',
      JSON.stringify({ id: 'c-1', type: 'immobilize' }),
      {
        qos: 1,
      },
    );
    await platform.client.publishAsync('devices/SIM-TEST03/commands', 'not json', { qos: 1 });
    await waitFor(() => platform.heard.some((h) => h.topic.endsWith('/ack')), 5000, 'ack');
    const ack = platform.heard
      .filter((h) => h.topic === 'devices/SIM-TEST03/ack')
      .map((h) => JSON.parse(h.payload));
    expect(ack).toEqual([{ id: 'c-1', ok: false, reason: 'unsupported' }]);
  });

  it('stops cleanly: offline retained, no last will', async () => {
    const { platform, device } = await setup('SIM-TEST04');
    device.start();
    await waitFor(() => device.connected, 5000, 'connect');
    await device.stop();
    await waitFor(() => statusOf(platform.heard, 'SIM-TEST04').includes('offline'), 5000, 'offline');
    expect(statusOf(platform.heard, 'SIM-TEST04')).toEqual(['online', 'offline']);
    // A late publish after stop is kept, not thrown.
    expect(() => device.publishTelemetry(report(1))).not.toThrow();
  });
});
