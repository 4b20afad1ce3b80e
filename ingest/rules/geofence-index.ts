/**
 * The geofences held in memory for ingest: a flatbush index over their bounding boxes (a static
 * packed R-tree: a point query touches a handful of boxes among thousands), then an exact
 * point-in-polygon test (turf) on the candidates. Rebuilt only when the table's revision moves.
 */
import Flatbush from 'flatbush';
import type { Sql } from '../../db/client.ts';
import { contains, type FenceGeometry, type LatLon } from '../../shared/geo.ts';

export type FencePurpose = 'allowed_region' | 'job_site' | 'yard' | 'restricted';

export interface Fence {
  id: string;
  name: string;
  purpose: FencePurpose;
  /** null: applies to every device. */
  contractId: string | null;
  geometry: FenceGeometry;
  /** A representative point (circle centre, or the bounding box centre), for "known sites". */
  anchor: LatLon;
}

export class GeofenceIndex {
  private readonly tree: Flatbush | null;

  constructor(readonly fences: readonly Fence[]) {
    if (fences.length === 0) {
      this.tree = null;
      return;
    }
    this.tree = new Flatbush(fences.length);
    for (const f of fences) {
      const rings = f.geometry.type === 'Polygon' ? f.geometry.coordinates : f.geometry.coordinates.flat();
      let minX = 180;
      let minY = 90;
      let maxX = -180;
      let maxY = -90;
      for (const ring of rings) {
        for (const [x, y] of ring) {
          minX = Math.min(minX, x!);
          maxX = Math.max(maxX, x!);
          minY = Math.min(minY, y!);
          maxY = Math.max(maxY, y!);
        }
      }
      this.tree.add(minX, minY, maxX, maxY);
    }
    this.tree.finish();
  }

  /** Fences that contain the point and apply to `contractId` (global ones apply to all). */
  containing(p: LatLon, contractId: string | null): Fence[] {
    if (!this.tree) return [];
    return this.tree
      .search(p.lon, p.lat, p.lon, p.lat)
      .map((i) => this.fences[i]!)
      .filter((f) => applies(f, contractId) && contains(f.geometry, p));
  }

  /** Fences that apply to a contract's machine. */
  applicable(contractId: string | null): Fence[] {
    return this.fences.filter((f) => applies(f, contractId));
  }
}

const applies = (f: Fence, contractId: string | null) => f.contractId === null || f.contractId === contractId;

/** Keeps the index of one database, reloading it when a geofence was added, changed or deleted. */
export class GeofenceCache {
  private revision: string | null = null;
  private index = new GeofenceIndex([]);

  async current(tx: Sql): Promise<GeofenceIndex> {
    const { rows } = await tx.query<{ revision: string }>(
      `select coalesce(max(revision), 0)::text || ':' || count(*)::text as revision from geofence`,
    );
    const revision = rows[0]!.revision;
    if (revision !== this.revision) {
      this.index = new GeofenceIndex(await loadFences(tx));
      this.revision = revision;
    }
    return this.index;
  }
}

export async function loadFences(tx: Sql): Promise<Fence[]> {
  const { rows } = await tx.query<{
    id: string;
    name: string;
    purpose: FencePurpose;
    contract_id: string | null;
    geometry: FenceGeometry | string;
    center_lat: number | null;
    center_lon: number | null;
    min_lat: number;
    min_lon: number;
    max_lat: number;
    max_lon: number;
  }>(
    `select id::text, name, purpose, contract_id, geometry, center_lat, center_lon, min_lat, min_lon, max_lat, max_lon
     from geofence where deleted_at is null order by id`,
  );
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    purpose: r.purpose,
    contractId: r.contract_id,
    geometry: typeof r.geometry === 'string' ? (JSON.parse(r.geometry) as FenceGeometry) : r.geometry,
    anchor:
      r.center_lat !== null && r.center_lon !== null
        ? { lat: r.center_lat, lon: r.center_lon }
        : { lat: (r.min_lat + r.max_lat) / 2, lon: (r.min_lon + r.max_lon) / 2 },
  }));
}
