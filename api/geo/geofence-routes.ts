/** Geofences over HTTP: GeoJSON polygons or circles, global or for one contract's machine. */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { contractInScope, type Viewer } from '../auth/scope.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import {
  createGeofence,
  deleteGeofence,
  FENCE_PURPOSES,
  GeofenceEventSchema,
  GeofenceInputSchema,
  GeofenceSchema,
  geofenceEvents,
  getGeofence,
  listGeofences,
  updateGeofence,
} from './store.ts';

export interface GeofenceRoutesOptions {
  db: Database;
}

/** Drawing the regions a machine may work in is a risk decision. */
const EDITORS: Role[] = ['admin', 'risk_manager'];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };

export const geofenceRoutes: FastifyPluginAsync<GeofenceRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  const { db } = options;
  /** A geofence the viewer may see: a global one, or one of a contract in their scope (else 404). */
  const visible = async (id: string, viewer: Viewer) =>
    /^\d{1,18}$/.test(id) && (await getGeofence(db, id, viewer)) !== null;
  /** A contract outside the viewer's scope is answered as if it did not exist. */
  const contractVisible = async (contractId: string, viewer: Viewer) => {
    const params: unknown[] = [contractId];
    const { rows } = await db.query(
      `select 1 from contract c where c.id = $1 and ${contractInScope(viewer, 'c', params)}`,
      params,
    );
    return rows.length > 0;
  };

  app.get(
    '/geofences',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['geofences'],
        summary: 'Geofences in force; with contractId, the global ones and that contract’s',
        querystring: z.object({
          contractId: z.string().max(64).optional(),
          purpose: z.enum(FENCE_PURPOSES).optional(),
        }),
        response: { 200: z.array(GeofenceSchema), ...errors },
      },
    },
    async (request) => listGeofences(db, request.query, request.viewer),
  );

  app.post(
    '/geofences',
    {
      config: { access: EDITORS },
      schema: {
        tags: ['geofences'],
        summary: 'Create a geofence (Polygon, MultiPolygon or Circle; WGS-84)',
        body: GeofenceInputSchema,
        response: { 201: GeofenceSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { contractId } = request.body;
      if (contractId && !(await contractVisible(contractId, request.viewer)))
        throw new HttpError(422, `contract ${contractId} does not exist`); // as an unknown one
      const created = await createGeofence(db, request.body);
      if (typeof created === 'string') throw new HttpError(422, created);
      return reply.status(201).send(created);
    },
  );

  app.get(
    '/geofences/:id',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['geofences'],
        summary: 'One geofence',
        params: IdParamsSchema,
        response: { 200: GeofenceSchema, ...errors },
      },
    },
    async (request) => {
      const fence = /^\d{1,18}$/.test(request.params.id)
        ? await getGeofence(db, request.params.id, request.viewer)
        : null;
      if (!fence) throw notFound(`geofence ${request.params.id}`);
      return fence;
    },
  );

  app.put(
    '/geofences/:id',
    {
      config: { access: EDITORS },
      schema: {
        tags: ['geofences'],
        summary: 'Replace a geofence; presence is re-evaluated from the next report on',
        params: IdParamsSchema,
        body: GeofenceInputSchema,
        response: { 200: GeofenceSchema, ...errors },
      },
    },
    async (request) => {
      if (!(await visible(request.params.id, request.viewer)))
        throw notFound(`geofence ${request.params.id}`);
      const { contractId } = request.body;
      if (contractId && !(await contractVisible(contractId, request.viewer)))
        throw new HttpError(422, `contract ${contractId} does not exist`); // as an unknown one
      const updated = /^\d{1,18}$/.test(request.params.id)
        ? await updateGeofence(db, request.params.id, request.body)
        : null;
      if (typeof updated === 'string') throw new HttpError(422, updated);
      if (!updated) throw notFound(`geofence ${request.params.id}`);
      return updated;
    },
  );

  app.delete(
    '/geofences/:id',
    {
      config: { access: EDITORS },
      schema: {
        tags: ['geofences'],
        summary: 'Delete a geofence (its enter/exit events are kept)',
        params: IdParamsSchema,
        response: { 200: z.object({ deleted: z.literal(true) }), ...errors },
      },
    },
    async (request) => {
      if (!(await visible(request.params.id, request.viewer)))
        throw notFound(`geofence ${request.params.id}`);
      const deleted = /^\d{1,18}$/.test(request.params.id) && (await deleteGeofence(db, request.params.id));
      if (!deleted) throw notFound(`geofence ${request.params.id}`);
      return { deleted: true as const };
    },
  );

  app.get(
    '/geofences/:id/events',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['geofences'],
        summary: 'Enter and exit events of a geofence, newest first',
        params: IdParamsSchema,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(200) }),
        response: { 200: z.array(GeofenceEventSchema), ...errors },
      },
    },
    async (request) => {
      if (!(await visible(request.params.id, request.viewer)))
        throw notFound(`geofence ${request.params.id}`);
      const events = /^\d{1,18}$/.test(request.params.id)
        ? await geofenceEvents(db, request.params.id, request.query.limit, request.viewer)
        : null;
      if (!events) throw notFound(`geofence ${request.params.id}`);
      return events;
    },
  );
};
