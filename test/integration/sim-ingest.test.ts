/**
 * The fleet simulator against the whole platform: what the model makes its boxes say, sent over
 * MQTT by the box firmware model (SimDevice) with real link losses, is what ends up stored.
 * Every report exactly once, backlog arrays (newest first, arriving after newer live reports)
 * stored as they came, and latest_position at the newest usable fix in device time rather than
 * the last report received. Runs on the embedded engines, or the real ones when MQTT_URL /
 * DATABASE_URL are set.
 */
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionDevices } from '../../api/devices/store.ts';
import { hasUsableFix, type Telemetry, topics } from '../../shared/protocol.ts';
import { SimDevice } from '../../simulators/device.ts';
import { createFleet, type SimEvent, type SimMachine } from '../../simulators/fleet.ts';
import { runMachine } from '../../simulators/trace.ts';
import { engineName, realBroker } from '../support/engines.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';
import { waitFor } from '../support/wait.ts';

const DAY = 86_400_000;
/** 06:00 China time on Tuesday 7 January 2025: a fixed past start, so the fleet is the same every run. */
const START = Date.UTC(2025, 0, 6, 22, 0, 0);
const SEED = 7;
/** Messages a box may have on their way to ingest before it waits for them to be stored. */
const WINDOW = 100;
const tag = `${process.pid}${Date.now() % 100_000}`;

interface Plan {
  machine: SimMachine;
  /** Unique per run, so a shared broker never mixes this run's boxes with another's. */
  deviceId: string;
  /** What the model makes the box do, up to the end of its first coverage gap. */
  events: SimEvent[];
  /** Every report in those events, in publish order (backlog arrays flattened). */
  reports: Telemetry[];
  /** The backlog arrays, as the model emitted them. */
  arrays: Telemetry[][];
}

/**
 * Each box's traffic from START to the moment its first coverage gap ends: that instant's events
 * are the live report and then the gap's backlog arrays, so the last message the box sends holds
 * reports older than the newest one already sent.
 */
function plan(machine: SimMachine): Plan {
  const all = runMachine(machine, START + 2 * DAY);
  const back = all.find((e) => e.kind === 'link' && e.up);
  if (!back) throw new Error(`${machine.identity.deviceId}: no coverage gap in two days`);
  const events = all.filter((e) => e.at <= back.at);
  const reports: Telemetry[] = [];
  const arrays: Telemetry[][] = [];
  for (const e of events) {
    if (e.kind !== 'telemetry') continue;
    if (Array.isArray(e.payload)) {
      arrays.push(e.payload);
      reports.push(...e.payload);
    } else reports.push(e.payload);
  }
  return { machine, deviceId: `${machine.identity.deviceId}-${tag}`, events, reports, arrays };
}

const key = (r: { ts: number; seq?: number | null | undefined }) => `${r.ts}/${r.seq ?? ''}`;
/** float4 columns come back at single precision (or printed from it); compare them there. */
const f4 = (x: number | null | undefined) => (x === null || x === undefined ? null : Math.fround(x));

interface TelemetryRow {
  ts: Date;
  seq: number | null;
  received_at: Date;
  lat: number;
  lon: number;
  alt: number | null;
  spd: number | null;
  hdg: number | null;
  sat: number | null;
  fix: boolean | null;
  ign: boolean | null;
  hrs: number | null;
  pwr: number | null;
  bat: number | null;
  rssi: number | null;
  rly: boolean | null;
  alm: string[] | null;
}

/** A stored row as the report it came from, so the two can be compared field by field. */
const asStored = (r: Telemetry) => ({
  ts: r.ts,
  seq: r.seq ?? null,
  lat: r.lat,
  lon: r.lon,
  alt: f4(r.alt),
  spd: f4(r.spd),
  hdg: f4(r.hdg),
  sat: r.sat ?? null,
  fix: r.fix ?? null,
  ign: r.ign ?? null,
  hrs: r.hrs ?? null,
  pwr: f4(r.pwr),
  bat: f4(r.bat),
  rssi: r.rssi === undefined ? null : Math.round(r.rssi),
  rly: r.rly ?? null,
  alm: r.alm && r.alm.length > 0 ? r.alm : null,
});
const fromRow = (row: TelemetryRow) => ({
  ts: new Date(row.ts).getTime(),
  seq: row.seq,
  lat: row.lat,
  lon: row.lon,
  alt: f4(row.alt),
  spd: f4(row.spd),
  hdg: f4(row.hdg),
  sat: row.sat,
  fix: row.fix,
  ign: row.ign,
  hrs: row.hrs,
  pwr: f4(row.pwr),
  bat: f4(row.bat),
  rssi: row.rssi,
  rly: row.rly,
  alm: row.alm,
});

describe(`simulated fleet stored by ingest on ${engineName}`, () => {
  let platform: TestPlatform;
  const plans = createFleet({
    devices: 3,
    seed: SEED,
    start: START,
    story: false,
    // A coverage gap every day (and so no reboots or power cuts: one off-network fault a day),
    // and frequent GPS losses, so some reports carry no usable fix.
    faults: { coverageGap: 1, gpsLoss: 0.6, reboot: 0, powerCut: 0, antennaCut: 0 },
    // Small chunks, so a gap goes up as several arrays.
    backlogChunk: 25,
  }).map(plan);
  const devices: SimDevice[] = [];

  const rowsOf = async (deviceId: string) =>
    (
      await platform.db.query<TelemetryRow>(
        `select ts, seq, received_at, lat, lon, alt, spd, hdg, sat, fix, ign, hrs, pwr, bat, rssi, rly, alm
         from telemetry where device_id = $1 order by ts, seq`,
        [deviceId],
      )
    ).rows;
  const countOf = async (deviceId: string) =>
    (
      await platform.db.query<{ n: number }>(
        'select count(*)::int as n from telemetry where device_id = $1',
        [deviceId],
      )
    ).rows[0]!.n;
  const onlineOf = async (deviceId: string) =>
    (
      await platform.db.query<{ online: boolean }>('select online from device_status where device_id = $1', [
        deviceId,
      ])
    ).rows[0]?.online;
  const statusIs = (deviceId: string, online: boolean) =>
    waitFor(async () => (await onlineOf(deviceId)) === online, {
      timeoutMs: 10_000,
      what: `${deviceId} ${online ? 'online' : 'offline'} in device_status`,
    });
  /** Waits until everything published so far is stored (each (ts, seq) once, so a count is enough). */
  const stored = (deviceId: string, published: Telemetry[]) => {
    const want = new Set(published.map(key)).size;
    return waitFor(async () => (await countOf(deviceId)) === want, {
      timeoutMs: 20_000,
      what: `${want} telemetry rows of ${deviceId}`,
    });
  };

  /** Plays a box's events through SimDevice: reports as the model says, its link dropped and restored. */
  async function drive(p: Plan): Promise<void> {
    const device = new SimDevice({
      deviceId: p.deviceId,
      token: p.machine.identity.token,
      mqttUrl: platform.mqttUrl,
      reconnectPeriodMs: 200,
    });
    devices.push(device);
    device.start();
    await waitFor(async () => device.connected, { what: `${p.deviceId} connected` });
    await statusIs(p.deviceId, true);
    const published: Telemetry[] = [];
    let unconfirmed = 0;
    for (const e of p.events) {
      if (e.kind === 'telemetry') {
        device.publishTelemetry(e.payload);
        published.push(...(Array.isArray(e.payload) ? e.payload : [e.payload]));
        // The box model's reports come out of a simulated day at once; a real box spreads them over
        // hours. Keep what is on its way to ingest small: a broker on Mosquitto's default limits (the
        // shared CI one: 1,000 queued messages per client) would otherwise drop QoS 1 messages for an
        // ingest worker that is behind (docs/deployment.md).
        if (++unconfirmed >= WINDOW) {
          await stored(p.deviceId, published);
          unconfirmed = 0;
        }
      } else if (!e.up) {
        // Everything sent before the gap is stored first, so the model's backlog arrays after it are
        // the only traffic of their kind. (A report whose PUBACK is still on its way when the link
        // dies is kept and sent again on return, at least once: a repeat the platform must absorb.)
        await stored(p.deviceId, published);
        device.dropLink();
        await statusIs(p.deviceId, false); // the broker's last will
      } else {
        device.restoreLink();
        await waitFor(async () => device.connected, { what: `${p.deviceId} reconnected` });
        await statusIs(p.deviceId, true);
      }
    }
    await stored(p.deviceId, published);
    // A box whose PUBACK got lost sends the same array again; it must not be stored twice. The clean
    // stop's `offline` comes after it on the same connection, so once it is in, so is the repeat.
    device.publishTelemetry(p.arrays[0]!);
    await device.stop();
    await statusIs(p.deviceId, false);
  }

  beforeAll(async () => {
    platform = await startTestPlatform();
    await provisionDevices(
      platform.db,
      plans.map(({ machine: { identity: m }, deviceId }) => ({
        deviceId,
        token: m.token,
        machine: { id: m.machineId, make: m.make, model: m.model, type: m.type, serial: m.pin, year: m.year },
      })),
    );
    const t = performance.now();
    await Promise.all(plans.map(drive));
    const n = plans.reduce((s, p) => s + p.reports.length, 0);
    console.info(
      `${engineName}: ${n} simulated reports sent and stored in ${(performance.now() - t).toFixed(0)} ms`,
    );
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.stop(1000)));
    await platform?.teardown();
    if (realBroker) {
      // Leave nothing behind on the shared broker: the retained statuses and the boxes' sessions.
      for (const { deviceId } of plans) {
        const c = await mqtt.connectAsync(realBroker, { clientId: deviceId, clean: true });
        await c.publishAsync(topics.status(deviceId), '', { qos: 1, retain: true });
        await c.endAsync();
      }
    }
  });

  it('the model makes coverage gaps uploaded as newest-first backlog arrays', () => {
    for (const p of plans) {
      const links = p.events.filter((e) => e.kind === 'link').map((e) => (e.kind === 'link' ? e.up : null));
      expect(links, p.deviceId).toEqual([false, true]);
      expect(p.arrays.length, p.deviceId).toBeGreaterThan(0);
      for (const a of p.arrays) {
        const ts = a.map((r) => r.ts);
        expect(ts, p.deviceId).toEqual([...ts].sort((x, y) => y - x));
        expect(new Set(ts).size).toBe(ts.length);
      }
      expect(new Set(p.reports.map(key)).size, `${p.deviceId}: (ts, seq) unique`).toBe(p.reports.length);
    }
    expect(plans.some((p) => p.arrays.length > 1)).toBe(true);
    expect(plans.some((p) => p.reports.some((r) => !hasUsableFix(r)))).toBe(true);
  });

  it('stores every report exactly once, backlog arrays included, field for field', async () => {
    for (const p of plans) {
      const rows = await rowsOf(p.deviceId);
      expect(rows.length, p.deviceId).toBe(p.reports.length);
      const want = [...p.reports].sort((a, b) => a.ts - b.ts || (a.seq ?? 0) - (b.seq ?? 0)).map(asStored);
      expect(rows.map(fromRow), p.deviceId).toEqual(want);
      const rejects = await platform.db.query(
        'select reason, detail from ingest_rejects where device_id = $1',
        [p.deviceId],
      );
      expect(rejects.rows, p.deviceId).toEqual([]);
    }
  });

  it('keeps each backlog array as the one late message it was, behind the newer live report', async () => {
    for (const p of plans) {
      const byKey = new Map(
        (await rowsOf(p.deviceId)).map((r) => [key({ ts: new Date(r.ts).getTime(), seq: r.seq }), r]),
      );
      // The live report sent when the link came back, just before the arrays.
      const live = p.events.findLast((e) => e.kind === 'telemetry' && !Array.isArray(e.payload));
      const liveReport = live?.kind === 'telemetry' ? (live.payload as Telemetry) : undefined;
      const liveRow = byKey.get(key(liveReport!))!;
      for (const a of p.arrays) {
        const received = new Set(a.map((r) => new Date(byKey.get(key(r))!.received_at).getTime()));
        expect(received.size, `${p.deviceId}: one message, one receive time`).toBe(1);
        const [at] = received;
        expect(Math.max(...a.map((r) => r.ts))).toBeLessThan(liveReport!.ts);
        expect(at!).toBeGreaterThanOrEqual(new Date(liveRow.received_at).getTime());
      }
    }
  });

  it('puts latest_position at the newest usable fix in device time, not the last report received', async () => {
    for (const p of plans) {
      const newest = p.reports.filter(hasUsableFix).reduce((a, b) => (b.ts > a.ts ? b : a));
      const lastSent = p.reports[p.reports.length - 1]!;
      expect(lastSent.ts, `${p.deviceId}: the last report sent is an older one`).toBeLessThan(newest.ts);
      const { rows } = await platform.db.query<{
        ts: Date;
        lat: number;
        lon: number;
        ign: boolean | null;
        hrs: number | null;
      }>('select ts, lat, lon, ign, hrs from latest_position where device_id = $1', [p.deviceId]);
      expect(rows.length, p.deviceId).toBe(1);
      const [row] = rows;
      expect({ ...row, ts: new Date(row!.ts).getTime() }, p.deviceId).toEqual({
        ts: newest.ts,
        lat: newest.lat,
        lon: newest.lon,
        ign: newest.ign ?? null,
        hrs: newest.hrs ?? null,
      });
    }
  });
});
