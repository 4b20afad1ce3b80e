import { describe, expect, it } from 'vitest';
import type { MachineCollection, MachineFeature } from '../../../shared/map.ts';
import { ageClass, drawnFleet, shouldCluster } from './fleetView.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const machine = (deviceId: string, lastSeen: string): MachineFeature => ({
  type: 'Feature',
  geometry: { type: 'Point', coordinates: [116, 39] },
  properties: {
    deviceId,
    machineId: `m-${deviceId}`,
    contractId: null,
    contractNumber: null,
    customer: null,
    dealerId: null,
    dealer: null,
    province: null,
    stage: 3,
    lastSeen,
    ign: false,
    spd: 0,
    hrs: 10,
    rly: null,
  },
});
const fleet: MachineCollection = {
  type: 'FeatureCollection',
  features: [
    machine('fresh', '2026-03-01T11:30:00Z'),
    machine('today', '2026-03-01T01:00:00Z'),
    machine('silent', '2026-02-27T12:00:00Z'),
    machine('garbled', 'not a time'),
  ],
};

describe('the fleet as drawn', () => {
  it('classes machines by last-seen age, a bad time as silent', () => {
    expect(fleet.features.map((f) => ageClass(f.properties.lastSeen, NOW))).toEqual([0, 1, 2, 2]);
  });

  it('filters by freshness and tags each machine with its age class', () => {
    const ids = (f: Parameters<typeof drawnFleet>[1]) =>
      drawnFleet(fleet, f, NOW).features.map((m) => m.properties.deviceId);
    expect(ids('all')).toEqual(['fresh', 'today', 'silent', 'garbled']);
    expect(ids('hour')).toEqual(['fresh']);
    expect(ids('day')).toEqual(['fresh', 'today']);
    expect(ids('silent')).toEqual(['silent', 'garbled']);
    expect(drawnFleet(fleet, 'all', NOW).features[1]!.properties).toMatchObject({
      deviceId: 'today',
      age: 1,
    });
  });

  it('leaves the source fleet untouched', () => {
    drawnFleet(fleet, 'all', NOW);
    expect('age' in fleet.features[0]!.properties).toBe(false);
  });

  it('reuses what did not change and redoes what aged or moved datum', () => {
    const a = drawnFleet(fleet, 'all', NOW).features;
    const b = drawnFleet(fleet, 'all', NOW).features;
    expect(b[0]).toBe(a[0]);
    // An hour later the fresh machine is a day-old one: redrawn with its new class.
    const later = drawnFleet(fleet, 'all', NOW + 3_600_000).features;
    expect(later[0]).not.toBe(a[0]);
    expect(later[0]!.properties.age).toBe(1);
    const gcj = drawnFleet(fleet, 'all', NOW, 'gcj02').features;
    expect(gcj[0]!.geometry.coordinates).not.toEqual(a[0]!.geometry.coordinates);
    expect(fleet.features[0]!.geometry.coordinates).toEqual([116, 39]);
  });

  it('clusters a large fleet only', () => {
    expect(shouldCluster(30)).toBe(false);
    expect(shouldCluster(20_000)).toBe(true);
  });
});
