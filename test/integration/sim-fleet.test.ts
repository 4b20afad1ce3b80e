/** The fleet runner end to end against an in-process broker. */
import { afterEach, describe, expect, it } from 'vitest';
import { parseTelemetryMessage, parseTopic, type Telemetry } from '../../shared/protocol.ts';
import { createFleet } from '../../simulators/fleet.ts';
import { runFleet } from '../../simulators/run-fleet.ts';
import { listen, startBroker, waitFor } from '../support/sim-broker.ts';

const HOUR = 3_600_000;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function launch(devices: number, speed: number, startAgoMs: number) {
  const broker = await startBroker();
  const platform = await listen(broker.url);
  const start = Date.now() - startAgoMs;
  const machines = createFleet({ devices, seed: 42, start });
  const fleet = runFleet({ mqttUrl: broker.url, machines, speed, startTime: start, tickMs: 50 });
  cleanups.push(
    () => broker.close().catch(() => {}),
    () => platform.client.endAsync(true),
    () => fleet.stop(),
  );
  return { broker, platform, machines, fleet, start };
}

function reportsByDevice(heard: { topic: string; payload: string }[]) {
  const byDevice = new Map<string, Telemetry[]>();
  const rejected = [];
  for (const h of heard) {
    const topic = parseTopic(h.topic);
    if (topic?.kind !== 'telemetry') continue;
    const parsed = parseTelemetryMessage(h.payload);
    rejected.push(...parsed.rejected);
    byDevice.set(topic.deviceId, [...(byDevice.get(topic.deviceId) ?? []), ...parsed.reports]);
  }
  return { byDevice, rejected };
}

describe('runFleet', () => {
  it('brings 20 devices online, each reporting as soon as it has coverage, all valid protocol v1', async () => {
    const speed = 1800;
    const { platform, machines, fleet, start } = await launch(20, speed, 2 * 24 * HOUR);
    // The same model, seed and start say when each box first reports: at once on connect, unless
    // it starts in a coverage gap (up to four hours, then a backlog) or with its power cut.
    // `firstSent` is when a box first sends; `firstReport` the time stamped on the first report it
    // made, earlier when that report waited out a coverage gap in a backlog (sent, after the report
    // of the moment, when coverage returns).
    const events = createFleet({ devices: 20, seed: 42, start }).map((m) =>
      m.advance(start + 12 * HOUR).flatMap((e) => (e.kind === 'telemetry' ? [e] : [])),
    );
    const firstSent = events.map((es) => es[0]?.at ?? Number.POSITIVE_INFINITY);
    const firstReport = events.map((es) =>
      Math.min(...es.flatMap((e) => [e.payload].flat().map((r) => r.ts))),
    );
    expect(firstSent.every((at) => at < start + 12 * HOUR)).toBe(true);
    const heard = () => reportsByDevice(platform.heard).byDevice;
    const atOnce = machines.filter((_, i) => firstSent[i]! - start < 1000).map((m) => m.identity.deviceId);
    expect(atOnce.length).toBeGreaterThan(0);
    await fleet.ready;
    // Real seconds, on a machine that may be busy with other test files: at 1800x a box that takes
    // two seconds to connect is an hour into its day, and may already be in a coverage gap (up to
    // four hours) that holds its first report back as a backlog. When a report was made is checked
    // below, from its timestamp, not from when it was heard.
    const lastFirst = Math.max(...firstSent) - start;
    await waitFor(
      () => heard().size === 20,
      15_000 + (lastFirst + 4 * HOUR) / speed,
      'first reports, at once or after a gap',
    );
    expect(atOnce.every((id) => heard().has(id))).toBe(true);
    await waitFor(
      () => [...heard().values()].every((r) => r.length >= 3),
      20_000,
      'three reports per device',
    );
    const { byDevice, rejected } = reportsByDevice(platform.heard);
    expect(rejected).toEqual([]);
    machines.forEach((m, i) => {
      const reports = byDevice.get(m.identity.deviceId)!;
      // seq starts at 0 (a box that starts in a coverage gap sends its first reports later as a
      // backlog array, newest first, so the first one heard need not be seq 0).
      expect(Math.min(...reports.map((r) => r.seq ?? Number.NaN))).toBe(0);
      // The first report is stamped when the model made it (whole seconds): at start, also when
      // it waited in a backlog; later for a box that starts dark.
      expect(Math.min(...reports.map((r) => r.ts))).toBe(firstReport[i]);
      expect(Math.max(...reports.map((r) => r.ts))).toBeLessThanOrEqual(Date.now());
    });
    const online = platform.heard.filter((h) => h.topic.endsWith('/status') && h.payload === 'online');
    expect(new Set(online.map((h) => h.topic)).size).toBe(20);
    const stats = fleet.stats();
    expect(stats).toMatchObject({ devices: 20, started: 20 });
    // A box is off the broker only while the model has it in a coverage gap (at 1800x real time,
    // the longer the test runs, the more gaps begin), never for another reason.
    expect(stats.connected).toBeGreaterThanOrEqual(20 - stats.simulatedDrops);
    expect(stats.reports).toBeGreaterThanOrEqual(60);
    expect(stats.simTime).toBeGreaterThan(start);

    await fleet.stop();
    // Each box's last word is `offline`: said on stop, or by its last will if a simulated coverage
    // gap had cut it off (a box that dropped and came back says it twice, so count boxes, not words).
    const lastStatus = () => {
      const last = new Map<string, string>();
      for (const h of platform.heard) if (h.topic.endsWith('/status')) last.set(h.topic, h.payload);
      return last;
    };
    await waitFor(
      () => lastStatus().size === 20 && [...lastStatus().values()].every((p) => p === 'offline'),
      15_000,
      'offline on stop',
    );
  });

  it('never lets the simulated clock run ahead of the wall clock', async () => {
    const { fleet } = await launch(3, 10_000, 5_000);
    await fleet.ready;
    await new Promise((r) => setTimeout(r, 300));
    const { simTime } = fleet.stats();
    expect(simTime).toBeLessThanOrEqual(Date.now());
    expect(simTime).toBeGreaterThan(Date.now() - 1000);
  });

  it('keeps calm and retries when the broker is unreachable', async () => {
    const machines = createFleet({ devices: 5, seed: 1, start: Date.now() });
    const fleet = runFleet({ mqttUrl: 'mqtt://127.0.0.1:9', machines, speed: 1 });
    cleanups.push(() => fleet.stop());
    await waitFor(() => fleet.stats().errors >= 5, 10_000, 'connection errors');
    expect(fleet.stats()).toMatchObject({ connected: 0, started: 0 });
    await fleet.stop();
  });
});
