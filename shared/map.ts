/** Shapes the map API serves and the web map draws; shared so both sides agree at compile time. */
import type { Feature, FeatureCollection, Point } from 'geojson';

import type { Stage } from './overdue.ts';

export type { Stage };

export interface MachineProperties {
  deviceId: string;
  machineId: string | null;
  contractId: string | null;
  contractNumber: string | null;
  customer: string | null;
  /** The contract's dealer (its id and name), null without a contract or dealer. */
  dealerId: string | null;
  dealer: string | null;
  /**
   * The dealer's province (`dealer.province`): the region whose portfolio and recovery team the
   * machine belongs to, not where it is now (that is its position).
   */
  province: string | null;
  stage: Stage | null;
  /** Device time of the newest usable fix, ISO 8601. */
  lastSeen: string;
  ign: boolean | null;
  spd: number | null;
  hrs: number | null;
  rly: boolean | null;
}

export type MachineFeature = Feature<Point, MachineProperties>;
export type MachineCollection = FeatureCollection<Point, MachineProperties>;

/** Bounding box west, south, east, north in WGS-84 degrees. */
export type BBox = [number, number, number, number];

export function inBBox(lon: number, lat: number, [w, s, e, n]: BBox): boolean {
  if (lat < s || lat > n) return false;
  // A box whose west edge is east of its east edge crosses the antimeridian.
  return w <= e ? lon >= w && lon <= e : lon >= w || lon <= e;
}
