import { describe, expect, it } from 'vitest';
import { machine } from '../../../test/support/machine-features.ts';
import {
  applyStageFilter,
  type FleetIndex,
  indexFromSnapshot,
  mergeUpdates,
  passesStageFilter,
  toCollection,
} from './fleet.ts';

const T0 = '2025-03-01T08:00:00.000Z';
const T1 = '2025-03-01T08:00:05.000Z';
const T2 = '2025-03-01T08:00:10.000Z';

const index = (...fs: ReturnType<typeof machine>[]): FleetIndex =>
  new Map(fs.map((f) => [f.properties.deviceId, f]));

describe('passesStageFilter', () => {
  it('shows everything at 0, including machines without a contract', () => {
    expect(passesStageFilter({ stage: null }, 0)).toBe(true);
    expect(passesStageFilter({ stage: 0 }, 0)).toBe(true);
  });
  it('keeps that stage or worse above 0, never machines without a contract', () => {
    expect(passesStageFilter({ stage: 1 }, 2)).toBe(false);
    expect(passesStageFilter({ stage: 2 }, 2)).toBe(true);
    expect(passesStageFilter({ stage: 3 }, 2)).toBe(true);
    expect(passesStageFilter({ stage: null }, 1)).toBe(false);
  });
});

describe('mergeUpdates', () => {
  it('adds new devices and moves known ones', () => {
    const idx = index(machine('a', T0, {}, [100, 30]));
    const changed = mergeUpdates(idx, [machine('a', T1, {}, [101, 31]), machine('b', T1)], 0);
    expect(changed).toBe(true);
    expect(idx.get('a')?.geometry.coordinates).toEqual([101, 31]);
    expect([...idx.keys()].sort()).toEqual(['a', 'b']);
  });

  it('ignores an update older than what is shown (a backlog arriving late)', () => {
    const idx = index(machine('a', T2, {}, [100, 30]));
    expect(mergeUpdates(idx, [machine('a', T1, {}, [90, 20])], 0)).toBe(false);
    expect(idx.get('a')?.geometry.coordinates).toEqual([100, 30]);
  });

  it('drops a machine whose update no longer passes the filter, and ignores new ones that do not', () => {
    const idx = index(machine('a', T0, { stage: 3 }));
    expect(mergeUpdates(idx, [machine('a', T1, { stage: 1 }), machine('b', T1, { stage: 1 })], 2)).toBe(true);
    expect(idx.size).toBe(0);
  });

  it('reports no change for an empty batch', () => {
    expect(mergeUpdates(index(machine('a', T0)), [], 0)).toBe(false);
  });
});

describe('indexFromSnapshot', () => {
  it('replaces the fleet: devices missing from the snapshot go', () => {
    const next = indexFromSnapshot([machine('b', T0)], index(machine('a', T0)), 0);
    expect([...next.keys()]).toEqual(['b']);
  });

  it('keeps a live update that is newer than the snapshot it raced', () => {
    const previous = index(machine('a', T2, {}, [101, 31]));
    const next = indexFromSnapshot([machine('a', T1, {}, [100, 30])], previous, 0);
    expect(next.get('a')?.geometry.coordinates).toEqual([101, 31]);
  });

  it('takes the snapshot when it is as new or newer', () => {
    const previous = index(machine('a', T1, {}, [101, 31]));
    const next = indexFromSnapshot([machine('a', T1, {}, [100, 30])], previous, 0);
    expect(next.get('a')?.geometry.coordinates).toEqual([100, 30]);
  });
});

describe('applyStageFilter and toCollection', () => {
  it('removes machines below a raised filter and builds a FeatureCollection', () => {
    const idx = index(
      machine('a', T0, { stage: 0 }),
      machine('b', T0, { stage: 3 }),
      machine('c', T0, { stage: null }),
    );
    expect(applyStageFilter(idx, 2)).toBe(true);
    const c = toCollection(idx);
    expect(c.type).toBe('FeatureCollection');
    expect(c.features.map((f) => f.properties.deviceId)).toEqual(['b']);
    expect(applyStageFilter(idx, 2)).toBe(false);
  });
});
