/** Geofences in the database: create, change, delete (kept for their events), list; their events. */

import { z } from 'zod';
import type { Sql } from '../../db/client.ts';
import { type FenceShape, FenceShapeSchema, fenceGeometry, geometryBBox } from '../../shared/geo.ts';
import { deviceInScope, EVERYTHING, geofenceInScope, type Viewer } from '../auth/scope.ts';

export const FENCE_PURPOSES = ['allowed_region', 'job_site', 'yard', 'restricted'] as const;

export const GeofenceInputSchema = z.object({
  name: z.string().trim().min(1).max(200),
  purpose: z.enum(FENCE_PURPOSES),
  /** null or absent: applies to every machine. */
  contractId: z.string().max(64).nullable().optional(),
  shape: FenceShapeSchema,
});
export type GeofenceInput = z.infer<typeof GeofenceInputSchema>;

export const GeofenceSchema = z.object({
  id: z.string(),
  name: z.string(),
  purpose: z.enum(FENCE_PURPOSES),
  contractId: z.string().nullable(),
  shape: FenceShapeSchema,
  /** The polygon tested (a circle's 64-sided approximation). */
  geometry: z.object({ type: z.enum(['Polygon', 'MultiPolygon']), coordinates: z.array(z.any()) }),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type GeofenceView = z.infer<typeof GeofenceSchema>;

export const GeofenceEventSchema = z.object({
  id: z.string(),
  geofenceId: z.string(),
  deviceId: z.string(),
  kind: z.enum(['enter', 'exit']),
  ts: z.string(),
  lat: z.number(),
  lon: z.number(),
});

interface Row {
  id: string;
  name: string;
  purpose: GeofenceView['purpose'];
  contract_id: string | null;
  geometry: unknown;
  center_lat: number | null;
  center_lon: number | null;
  radius_m: number | null;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS = `id::text, name, purpose, contract_id, geometry, center_lat, center_lon, radius_m, created_at, updated_at`;
const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);

function view(r: Row): GeofenceView {
  const geometry = parse(r.geometry) as GeofenceView['geometry'];
  const shape: FenceShape =
    r.radius_m !== null && r.center_lat !== null && r.center_lon !== null
      ? { type: 'Circle', center: { lat: r.center_lat, lon: r.center_lon }, radiusM: r.radius_m }
      : (geometry as FenceShape);
  return {
    id: r.id,
    name: r.name,
    purpose: r.purpose,
    contractId: r.contract_id,
    shape,
    geometry,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

/** Why the input cannot be stored (an unknown contract), or null. */
async function problem(db: Sql, input: GeofenceInput): Promise<string | null> {
  if (!input.contractId) return null;
  const { rows } = await db.query('select 1 from contract where id = $1', [input.contractId]);
  return rows.length === 0 ? `contract ${input.contractId} does not exist` : null;
}

function columns(input: GeofenceInput) {
  const geometry = fenceGeometry(input.shape);
  const box = geometryBBox(geometry);
  const circle = input.shape.type === 'Circle' ? input.shape : null;
  return [
    input.name,
    input.purpose,
    input.contractId ?? null,
    JSON.stringify(geometry),
    circle?.center.lat ?? null,
    circle?.center.lon ?? null,
    circle?.radiusM ?? null,
    box.minLat,
    box.minLon,
    box.maxLat,
    box.maxLon,
  ];
}

export async function createGeofence(db: Sql, input: GeofenceInput): Promise<GeofenceView | string> {
  const bad = await problem(db, input);
  if (bad) return bad;
  const { rows } = await db.query<Row>(
    `insert into geofence (name, purpose, contract_id, geometry, center_lat, center_lon, radius_m,
                           min_lat, min_lon, max_lat, max_lon)
     values ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11) returning ${COLUMNS}`,
    columns(input),
  );
  return view(rows[0]!);
}

export async function updateGeofence(
  db: Sql,
  id: string,
  input: GeofenceInput,
): Promise<GeofenceView | string | null> {
  const bad = await problem(db, input);
  if (bad) return bad;
  const { rows } = await db.query<Row>(
    `update geofence set name = $2, purpose = $3, contract_id = $4, geometry = $5::jsonb, center_lat = $6,
       center_lon = $7, radius_m = $8, min_lat = $9, min_lon = $10, max_lat = $11, max_lon = $12,
       revision = nextval('geofence_revision'), updated_at = now()
     where id = $1 and deleted_at is null returning ${COLUMNS}`,
    [id, ...columns(input)],
  );
  return rows[0] ? view(rows[0]) : null;
}

/** Deleted geofences stay in the table (their events are part of the record) but apply no more. */
export async function deleteGeofence(db: Sql, id: string): Promise<boolean> {
  const { rows } = await db.query(
    `update geofence set deleted_at = now(), revision = nextval('geofence_revision'), updated_at = now()
     where id = $1 and deleted_at is null returning id`,
    [id],
  );
  if (rows.length > 0) await db.query('delete from geofence_presence where geofence_id = $1', [id]);
  return rows.length > 0;
}

export async function getGeofence(
  db: Sql,
  id: string,
  viewer: Viewer = EVERYTHING,
): Promise<GeofenceView | null> {
  const params: unknown[] = [id];
  const inScope = geofenceInScope(viewer, 'geofence', params);
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from geofence where id = $1 and deleted_at is null and ${inScope}`,
    params,
  );
  return rows[0] ? view(rows[0]) : null;
}

export async function listGeofences(
  db: Sql,
  filter: { contractId?: string | undefined; purpose?: string | undefined },
  viewer: Viewer = EVERYTHING,
): Promise<GeofenceView[]> {
  const params: unknown[] = [filter.contractId ?? null, filter.purpose ?? null];
  const inScope = geofenceInScope(viewer, 'geofence', params);
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from geofence
     where deleted_at is null and ($1::text is null or contract_id = $1 or contract_id is null)
       and ($2::text is null or purpose = $2) and ${inScope}
     order by id`,
    params,
  );
  return rows.map(view);
}

export async function geofenceEvents(
  db: Sql,
  id: string,
  limit: number,
  viewer: Viewer,
): Promise<z.infer<typeof GeofenceEventSchema>[] | null> {
  const { rows: found } = await db.query('select 1 from geofence where id = $1', [id]);
  if (found.length === 0) return null;
  // Only the events of boxes on machines in the viewer's scope.
  const params: unknown[] = [id, limit];
  const inScope = deviceInScope(viewer, 'e.device_id', params);
  const { rows } = await db.query<{
    id: string;
    geofence_id: string;
    device_id: string;
    kind: 'enter' | 'exit';
    ts: Date;
    lat: number;
    lon: number;
  }>(
    `select e.id::text, e.geofence_id::text, e.device_id, e.kind, e.ts, e.lat, e.lon from geofence_event e
     where e.geofence_id = $1 and ${inScope} order by e.ts desc, e.id desc limit $2`,
    params,
  );
  return rows.map((r) => ({
    id: r.id,
    geofenceId: r.geofence_id,
    deviceId: r.device_id,
    kind: r.kind,
    ts: new Date(r.ts).toISOString(),
    lat: r.lat,
    lon: r.lon,
  }));
}
