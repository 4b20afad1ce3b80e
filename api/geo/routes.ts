/**
 * The location feature's routes: geofences, a machine's trail, sites and exports, its history, the
 * recovery list and a device's track. One file per resource; this registers them in one place.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../../db/client.ts';
import { geofenceRoutes } from './geofence-routes.ts';
import { machineHistoryRoutes } from './history-routes.ts';
import { machineRoutes } from './machine-routes.ts';
import { recoveryRoutes } from './recovery-routes.ts';
import { trackRoutes } from './track-routes.ts';

export interface GeoRoutesOptions {
  db: Database;
  /** The clock trails and histories are read as of; tests set it. */
  now?: (() => number) | undefined;
}

export const geoRoutes: FastifyPluginAsync<GeoRoutesOptions> = async (app, { db, now }) => {
  await app.register(geofenceRoutes, { db });
  await app.register(machineRoutes, { db, now });
  await app.register(machineHistoryRoutes, { db, now });
  await app.register(recoveryRoutes, { db });
  await app.register(trackRoutes, { db, now });
};
