/**
 * What the map draws from the live fleet: each machine with its last-seen age class (markers of
 * machines silent for a day fade), the freshness filter, and whether to cluster. Pure.
 */
import type { MachineCollection, MachineFeature } from '../../../shared/map.ts';
import { displayPoint, type MapDatum } from './datum.ts';

export type Freshness = 'all' | 'hour' | 'day' | 'silent';
export const FRESHNESS: readonly Freshness[] = ['all', 'hour', 'day', 'silent'];
/** 0: seen within the hour, 1: within a day, 2: silent for a day or more (or never). */
export type AgeClass = 0 | 1 | 2;

const HOUR = 3_600_000;

export function ageClass(lastSeen: string, now: number): AgeClass {
  return ageOf(Date.parse(lastSeen), now);
}

function ageOf(seenAt: number, now: number): AgeClass {
  if (Number.isNaN(seenAt)) return 2;
  const age = now - seenAt;
  return age < HOUR ? 0 : age < 24 * HOUR ? 1 : 2;
}

export function passesFreshness(age: AgeClass, f: Freshness): boolean {
  switch (f) {
    case 'all':
      return true;
    case 'hour':
      return age === 0;
    case 'day':
      return age <= 1;
    case 'silent':
      return age === 2;
  }
}

/**
 * Below this many machines every one is drawn (a few thousand circles are cheap for WebGL and an
 * agent sees each); above, MapLibre's worker clusters them (supercluster) so 20,000 stay smooth.
 */
export const CLUSTER_ABOVE = 2000;

export function shouldCluster(count: number): boolean {
  return count > CLUSTER_ABOVE;
}

export type DrawnMachine = MachineFeature & { properties: MachineFeature['properties'] & { age: AgeClass } };

/** Drawn twins by source feature: a live update replaces a few features, the rest are reused. */
const drawnCache = new WeakMap<
  MachineFeature,
  { seenAt: number; age: AgeClass; datum: MapDatum; drawn: DrawnMachine }
>();

/**
 * The features to draw: filtered by freshness, each with its age class, positions in the map's
 * datum. A feature whose age class and datum are unchanged since the last call is reused, so a
 * coalesced live update of a 20,000-machine fleet rebuilds only what moved.
 */
export function drawnFleet(
  collection: MachineCollection,
  freshness: Freshness,
  now: number,
  datum: MapDatum = 'wgs84',
): { type: 'FeatureCollection'; features: DrawnMachine[] } {
  const features: DrawnMachine[] = [];
  for (const f of collection.features) {
    const cached = drawnCache.get(f);
    const seenAt = cached ? cached.seenAt : Date.parse(f.properties.lastSeen);
    const age = ageOf(seenAt, now);
    if (!passesFreshness(age, freshness)) continue;
    if (cached && cached.age === age && cached.datum === datum) {
      features.push(cached.drawn);
      continue;
    }
    const geometry =
      datum === 'wgs84'
        ? f.geometry
        : { type: 'Point' as const, coordinates: displayPoint(f.geometry.coordinates, datum) };
    const drawn: DrawnMachine = { ...f, geometry, properties: { ...f.properties, age } };
    drawnCache.set(f, { seenAt, age, datum, drawn });
    features.push(drawn);
  }
  return { type: 'FeatureCollection', features };
}
