/**
 * The location api on a real database: geofence CRUD and enter/exit through ingest's transaction,
 * the left-region alert, alerts listed and acknowledged, sites of a machine, nearest machines in
 * order, and exports that other tools can read (GeoJSON validated, GPX and KML parsed back).
 */
import { check } from '@placemarkio/check-geojson';
import { gpx, kml } from '@tmcw/togeojson';
import { DOMParser } from '@xmldom/xmldom';
import type { FeatureCollection } from 'geojson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distanceM } from '../../shared/geo.ts';
import type { Telemetry } from '../../shared/protocol.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { authHeader, signedInAs } from '../support/auth.ts';
import { engineName } from '../support/engines.ts';
import {
  createLocationRules,
  HOUR,
  ingestReports,
  MIN,
  north,
  report,
  seedMachine,
  T0,
  XUZHOU,
} from '../support/location.ts';

let t: TestApp;
let risk: string;
let agent: string;
let auditor: string;
const rules = createLocationRules();

beforeAll(async () => {
  t = await startTestApp({ now: () => T0 + 30 * 24 * HOUR });
  risk = (await signedInAs(t.app, t.db, 'risk_manager')).token;
  agent = (await signedInAs(t.app, t.db, 'recovery_agent')).token;
  auditor = (await signedInAs(t.app, t.db, 'auditor')).token;
});
afterAll(async () => {
  await t?.close();
});

const api = (
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  token: string,
  payload?: Record<string, unknown>,
) => t.app.inject({ method, url, headers: authHeader(token), ...(payload === undefined ? {} : { payload }) });

/** A square of `halfM` metres around Xuzhou. */
function square(halfM: number) {
  const dLat = halfM / 111_320;
  const dLon = halfM / 92_000;
  const { lat, lon } = XUZHOU;
  return {
    type: 'Polygon' as const,
    coordinates: [
      [
        [lon - dLon, lat - dLat],
        [lon + dLon, lat - dLat],
        [lon + dLon, lat + dLat],
        [lon - dLon, lat + dLat],
        [lon - dLon, lat - dLat],
      ],
    ],
  };
}

describe(`location api (${engineName})`, () => {
  it('geofences: create (polygon, circle), read, list, replace, delete; bad shapes and contracts refused', async () => {
    const m = await seedMachine(t.db, 1, { stage: 3 });
    const poly = await api('POST', '/api/geofences', risk, {
      name: 'Xuzhou',
      purpose: 'allowed_region',
      shape: square(20_000),
    });
    expect(poly.statusCode).toBe(201);
    const circle = await api('POST', '/api/geofences', risk, {
      name: 'Yard',
      purpose: 'yard',
      contractId: m.contractId,
      shape: { type: 'Circle', center: XUZHOU, radiusM: 300 },
    });
    expect(circle.statusCode).toBe(201);
    expect(circle.json().geometry.coordinates[0]).toHaveLength(65);
    expect(circle.json().shape).toEqual({ type: 'Circle', center: XUZHOU, radiusM: 300 });

    const openRing = square(100);
    openRing.coordinates[0]!.pop();
    expect(
      (await api('POST', '/api/geofences', risk, { name: 'x', purpose: 'yard', shape: openRing })).statusCode,
    ).toBe(400);
    const unknown = await api('POST', '/api/geofences', risk, {
      name: 'x',
      purpose: 'yard',
      contractId: 'NOPE',
      shape: square(100),
    });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().message).toMatch(/NOPE/);
    expect(
      (await api('POST', '/api/geofences', agent, { name: 'x', purpose: 'yard', shape: square(100) }))
        .statusCode,
    ).toBe(403);

    const listed = await api('GET', `/api/geofences?contractId=${m.contractId}`, auditor);
    expect(listed.json().map((f: { name: string }) => f.name)).toEqual(['Xuzhou', 'Yard']);
    const id = circle.json().id as string;
    const replaced = await api('PUT', `/api/geofences/${id}`, risk, {
      name: 'Yard (moved)',
      purpose: 'yard',
      contractId: m.contractId,
      shape: { type: 'Circle', center: XUZHOU, radiusM: 500 },
    });
    expect(replaced.json().name).toBe('Yard (moved)');
    expect((await api('DELETE', `/api/geofences/${id}`, risk)).statusCode).toBe(200);
    expect((await api('GET', `/api/geofences/${id}`, auditor)).statusCode).toBe(404);
    expect((await api('DELETE', `/api/geofences/${id}`, risk)).statusCode).toBe(404);
    expect((await api('DELETE', `/api/geofences/${poly.json().id}`, risk)).statusCode).toBe(200);
  });

  it('enter/exit events and the left-region alert from ingest; alerts listed, per contract, acknowledged', async () => {
    const m = await seedMachine(t.db, 2, { stage: 3 });
    const fence = (
      await api('POST', '/api/geofences', risk, {
        name: 'Jiangsu (part)',
        purpose: 'allowed_region',
        contractId: m.contractId,
        shape: square(10_000),
      })
    ).json();
    const send = (reports: Telemetry[]) => ingestReports(t.db, rules, m.deviceId, reports);
    const first = await send([report(T0)]);
    expect(first.geofenceEvents.map((e) => e.kind)).toEqual(['enter']);
    const out = await send([
      report(T0 + MIN, { lat: north(9_000), ign: true, spd: 30 }),
      report(T0 + 2 * MIN, { lat: north(11_000), ign: true, spd: 30 }),
    ]);
    expect(out.geofenceEvents.map((e) => [e.kind, e.geofenceName])).toEqual([['exit', 'Jiangsu (part)']]);
    expect(out.alerts.map((a) => [a.kind, a.status])).toEqual([['left_region', 'open']]);
    // Back in for over ten minutes: enter, and the alert clears.
    const back = await send([
      report(T0 + 5 * MIN, { lat: north(5_000) }),
      report(T0 + 16 * MIN, { lat: north(5_000) }),
    ]);
    expect(back.geofenceEvents.map((e) => e.kind)).toEqual(['enter']);
    expect(back.alerts.map((a) => [a.kind, a.status])).toEqual([['left_region', 'cleared']]);
    const events = await api('GET', `/api/geofences/${fence.id}/events`, auditor);
    expect(events.json().map((e: { kind: string }) => e.kind)).toEqual(['enter', 'exit', 'enter']);

    await send([report(T0 + 20 * MIN, { lat: north(30_000), ign: true, spd: 40 })]);
    const open = await api('GET', `/api/alerts?deviceId=${m.deviceId}`, auditor);
    expect(open.statusCode).toBe(200);
    expect(open.json().map((a: { kind: string }) => a.kind)).toEqual(['left_region']);
    const all = await api('GET', `/api/contracts/${m.contractId}/alerts?status=all`, auditor);
    expect(all.json().map((a: { status: string }) => a.status)).toEqual(['open', 'cleared']);
    expect((await api('GET', '/api/contracts/NOPE/alerts', auditor)).statusCode).toBe(404);

    const id = open.json()[0].id as string;
    const ack = await api('POST', `/api/alerts/${id}/acknowledge`, agent, { note: 'driving there' });
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({ acknowledgedNote: 'driving there', status: 'open' });
    expect(ack.json().acknowledgedBy).toMatch(/^recovery-agent-/);
    expect((await api('POST', `/api/alerts/${id}/acknowledge`, auditor, {})).statusCode).toBe(403);
    expect((await api('POST', '/api/alerts/999999/acknowledge', agent, {})).statusCode).toBe(404);
    const unacked = await api('GET', `/api/alerts?deviceId=${m.deviceId}&acknowledged=false`, auditor);
    expect(unacked.json()).toEqual([]);

    // The region deleted, nothing is left to be outside of: the alert clears like any other.
    expect((await api('DELETE', `/api/geofences/${fence.id}`, risk)).statusCode).toBe(200);
    const away = { lat: north(30_000), ign: true, spd: 40 };
    const after = await send([report(T0 + 21 * MIN, away), report(T0 + 32 * MIN, away)]);
    expect(after.alerts.map((a) => [a.kind, a.status])).toEqual([['left_region', 'cleared']]);
  });

  it('nearest stage-3 machines in order of distance, with bearing; lower stages left out', async () => {
    const spots = [
      { n: 10, stage: 3, metres: 8_000 },
      { n: 11, stage: 3, metres: 2_000 },
      { n: 12, stage: 0, metres: 500 },
      { n: 13, stage: 3, metres: -5_000 },
    ];
    for (const s of spots) {
      const m = await seedMachine(t.db, s.n, { stage: s.stage });
      await ingestReports(t.db, rules, m.deviceId, [report(T0 + 40 * 24 * HOUR, { lat: north(s.metres) })]);
    }
    const res = await api('GET', `/api/recovery/nearest?lat=${XUZHOU.lat}&lon=${XUZHOU.lon}&limit=3`, agent);
    expect(res.statusCode).toBe(200);
    const rows = res.json() as { machineId: string; distanceM: number; compass: string; stage: number }[];
    expect(rows.map((r) => r.machineId)).toEqual(['MCH-LOC-11', 'MCH-LOC-13', 'MCH-LOC-10']);
    expect(rows[0]).toMatchObject({ compass: 'N', stage: 3 });
    expect(rows[0]!.distanceM).toBeGreaterThan(1_990);
    expect(rows[0]!.distanceM).toBeLessThan(2_010);
    expect(rows[1]).toMatchObject({ compass: 'S' });
    const all = await api(
      'GET',
      `/api/recovery/nearest?lat=${XUZHOU.lat}&lon=${XUZHOU.lon}&minStage=0&limit=1`,
      agent,
    );
    expect(all.json()[0].machineId).toBe('MCH-LOC-12');
    expect((await api('GET', '/api/recovery/nearest?lat=95&lon=0', agent)).statusCode).toBe(400);
  });

  it('sites of a machine through the api, and as GPX', async () => {
    const m = await seedMachine(t.db, 20, { stage: 3 });
    const days: Telemetry[] = [];
    for (let d = 0; d < 5; d++) {
      const day = T0 - 2 * HOUR + d * 24 * HOUR; // 08:00 China time
      for (let k = 0; k < 30; k++) days.push(report(day - 14 * HOUR + k * 28 * MIN)); // the night in the yard
      for (let k = 0; k < 40; k++)
        days.push(report(day + HOUR + k * 12 * MIN, { lat: north(8_000), ign: true, spd: 2 }));
    }
    await ingestReports(t.db, rules, m.deviceId, days);
    const at = new Date(T0 + 4 * 24 * HOUR + 14 * HOUR).toISOString(); // 00:00 China time, box dark since 17:00
    const res = await api('GET', `/api/machines/${m.machineId}/sites?at=${at}`, agent);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.sites).toHaveLength(2);
    expect(body.dark).toBe(true);
    expect(body.bestNow.reason).toBe('usual_site_for_this_hour');
    expect(distanceM(body.bestNow, XUZHOU)).toBeLessThan(50);
    const gpxText = await api('GET', `/api/machines/${m.machineId}/sites?at=${at}&format=gpx`, agent);
    expect(gpxText.headers['content-type']).toMatch(/gpx/);
    const parsed = gpx(new DOMParser().parseFromString(gpxText.body, 'text/xml') as never);
    expect(parsed.features).toHaveLength(3);
    expect(parsed.features[0]?.properties?.name).toMatch(/look here now/);
    expect((await api('GET', '/api/machines/NOPE/sites', agent)).statusCode).toBe(404);
  });

  it('track exports: GeoJSON validates, GPX and KML parse back to the same points; GCJ-02 on request', async () => {
    const m = await seedMachine(t.db, 30);
    const trip = Array.from({ length: 20 }, (_, k) =>
      report(T0 + k * 30_000, { lat: north(k * 400), ign: true, spd: 48 }),
    );
    await ingestReports(t.db, rules, m.deviceId, [
      ...trip,
      report(T0 + 10_000, { fix: false, lat: 0, lon: 0 }),
    ]);
    const q = `from=${new Date(T0 - MIN).toISOString()}&to=${new Date(T0 + HOUR).toISOString()}`;
    const geo = await api('GET', `/api/devices/${m.deviceId}/track?${q}`, auditor);
    expect(geo.statusCode).toBe(200);
    expect(geo.headers['content-type']).toMatch(/geo\+json/);
    const collection = check(geo.body) as FeatureCollection;
    const line = collection.features.find((f) => f.geometry?.type === 'LineString');
    expect((line!.geometry as { coordinates: number[][] }).coordinates).toHaveLength(20);

    const g = await api('GET', `/api/devices/${m.deviceId}/track?${q}&format=gpx`, auditor);
    const fromGpx = gpx(new DOMParser().parseFromString(g.body, 'text/xml') as never);
    const track = fromGpx.features[0]!;
    expect((track.geometry as { coordinates: number[][] }).coordinates[5]).toEqual([XUZHOU.lon, north(2000)]);
    expect(
      (track.properties as { coordinateProperties: { times: string[] } }).coordinateProperties.times[0],
    ).toBe(new Date(T0).toISOString());

    const k = await api('GET', `/api/devices/${m.deviceId}/track?${q}&format=kml`, auditor);
    const fromKml = kml(new DOMParser().parseFromString(k.body, 'text/xml') as never);
    const kmlLine = fromKml.features.find((f) => f.geometry?.type === 'LineString');
    expect((kmlLine!.geometry as { coordinates: number[][] }).coordinates).toHaveLength(20);

    const gcjText = (await api('GET', `/api/devices/${m.deviceId}/track?${q}&datum=gcj02`, auditor)).body;
    const gcj = check(gcjText) as FeatureCollection;
    const [lon, lat] = (gcj.features[1]!.geometry as { coordinates: number[] }).coordinates as [
      number,
      number,
    ];
    // GCJ-02 is offset by a few hundred metres in China.
    const shift = distanceM({ lat, lon }, XUZHOU);
    expect(shift).toBeGreaterThan(100);
    expect(shift).toBeLessThan(1000);

    expect(
      (
        await api(
          'GET',
          `/api/devices/${m.deviceId}/track?from=${new Date(T0).toISOString()}&to=${new Date(T0 - 1).toISOString()}`,
          auditor,
        )
      ).statusCode,
    ).toBe(400);
    expect((await api('GET', '/api/devices/NOPE/track', auditor)).statusCode).toBe(404);
  });
});
