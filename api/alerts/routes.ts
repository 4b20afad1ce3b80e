/**
 * Alerts over HTTP: the global list, a contract's alerts, acknowledging one. Raising and clearing
 * happen in ingest (ingest/rules/evaluate.ts) and the silence check (api/alerts/silence.ts), never here.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import type { AlertView } from '../../shared/alerts.ts';
import { AlertSchema } from '../../shared/api/alerts.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import {
  AcknowledgeSchema,
  AlertsQuerySchema,
  acknowledgeAlert,
  contractExists,
  listAlerts,
} from './store.ts';

export interface AlertRoutesOptions {
  db: Database;
  now?: (() => number) | undefined;
  /** Called with an acknowledged alert (main.ts announces it live). */
  onAlerts?: ((alerts: AlertView[]) => void) | undefined;
}

/** Those who act on an alert say they have seen it; the auditor only reads. */
const ACKNOWLEDGERS: Role[] = ['collector', 'recovery_agent', 'risk_manager', 'admin'];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };

export const alertRoutes: FastifyPluginAsync<AlertRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  const { db } = options;
  const now = options.now ?? Date.now;

  app.get(
    '/alerts',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['alerts'],
        summary: 'Alerts, newest first: open by default; filter by kind, device, contract, acknowledged',
        querystring: AlertsQuerySchema,
        response: { 200: z.array(AlertSchema), ...errors },
      },
    },
    async (request) => listAlerts(db, request.query, request.viewer),
  );

  app.get(
    '/contracts/:id/alerts',
    {
      config: { access: ALL_ROLES, scopedBy: 'contract' },
      schema: {
        tags: ['alerts'],
        summary: "A contract's alerts (its machine's devices), newest first",
        params: IdParamsSchema,
        querystring: AlertsQuerySchema.omit({ contractId: true }),
        response: { 200: z.array(AlertSchema), ...errors },
      },
    },
    async (request) => {
      if (!(await contractExists(db, request.params.id))) throw notFound(`contract ${request.params.id}`);
      return listAlerts(db, { ...request.query, contractId: request.params.id }, request.viewer);
    },
  );

  app.post(
    '/alerts/:id/acknowledge',
    {
      config: { access: ACKNOWLEDGERS, scopedBy: 'alert' },
      schema: {
        tags: ['alerts'],
        summary: 'Acknowledge an alert (who and when are kept; a second acknowledgement changes nothing)',
        params: IdParamsSchema,
        body: AcknowledgeSchema,
        response: { 200: AlertSchema, ...errors },
      },
    },
    async (request) => {
      const alert = await acknowledgeAlert(
        db,
        request.params.id,
        { username: request.user.username, note: request.body?.note },
        now(),
      );
      if (!alert) throw notFound(`alert ${request.params.id}`);
      options.onAlerts?.([alert]);
      return alert;
    },
  );
};
