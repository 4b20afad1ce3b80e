/**
 * The fleet the map shows, as pure functions over a Map keyed by deviceId: the REST snapshot
 * replaces it, live updates merge into it. Newer fixes win, so a reload that raced a live update
 * cannot move a machine back in time, and the stage filter applies to updates as it does on the
 * server (`minStage=0` shows everything, including machines without a contract).
 */
import type { MachineCollection, MachineFeature, MachineProperties, Stage } from '../../../shared/map.ts';

export type FleetIndex = Map<string, MachineFeature>;

/** Same rule as `GET /api/map/machines?minStage=`: 0 keeps all, otherwise a contract at that stage or worse. */
export function passesStageFilter(p: Pick<MachineProperties, 'stage'>, minStage: Stage): boolean {
  return minStage === 0 || (p.stage !== null && p.stage >= minStage);
}

function time(f: MachineFeature): number {
  const t = Date.parse(f.properties.lastSeen);
  return Number.isNaN(t) ? Number.NEGATIVE_INFINITY : t;
}

/** Whether `next` should replace `current` for the same device: not older (ties go to the newcomer). */
export function isNotOlder(next: MachineFeature, current: MachineFeature | undefined): boolean {
  return current === undefined || time(next) >= time(current);
}

/**
 * A fresh index from a full REST snapshot. Entries of `previous` that are strictly newer than the
 * snapshot's (a live update that arrived while the request was in flight) are kept.
 */
export function indexFromSnapshot(
  snapshot: readonly MachineFeature[],
  previous: FleetIndex,
  minStage: Stage,
): FleetIndex {
  const next: FleetIndex = new Map();
  for (const f of snapshot) {
    const id = f.properties.deviceId;
    const prev = previous.get(id);
    const chosen = prev !== undefined && !isNotOlder(f, prev) ? prev : f;
    if (passesStageFilter(chosen.properties, minStage)) next.set(id, chosen);
  }
  return next;
}

/**
 * Merges live updates into `index` in place; returns whether anything changed. An update whose
 * stage no longer passes the filter removes the machine.
 */
export function mergeUpdates(index: FleetIndex, updates: Iterable<MachineFeature>, minStage: Stage): boolean {
  let changed = false;
  for (const f of updates) {
    const id = f.properties.deviceId;
    const current = index.get(id);
    if (!passesStageFilter(f.properties, minStage)) {
      if (current !== undefined && isNotOlder(f, current)) changed = index.delete(id) || changed;
      continue;
    }
    if (isNotOlder(f, current)) {
      index.set(id, f);
      changed = true;
    }
  }
  return changed;
}

/** Drops the machines below a (raised) stage filter; returns whether anything changed. */
export function applyStageFilter(index: FleetIndex, minStage: Stage): boolean {
  let changed = false;
  for (const [id, f] of index) {
    if (!passesStageFilter(f.properties, minStage)) changed = index.delete(id) || changed;
  }
  return changed;
}

export function toCollection(index: FleetIndex): MachineCollection {
  return { type: 'FeatureCollection', features: [...index.values()] };
}
