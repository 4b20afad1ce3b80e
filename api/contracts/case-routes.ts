/**
 * Who works a case and what they may see of its customer: sending a recovery agent to a contract
 * (and ending it early), and revealing the personal data the case file shows masked.
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import { CaseAssignmentSchema, RevealedSchema } from '../../shared/api/contracts.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { REVEALERS } from '../../shared/scope.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { assignCase, listAssignments, revokeAssignment } from './assignments.ts';
import { revealPersonalData } from './reveal.ts';

export interface CaseRoutesOptions {
  db: Database;
}

/** Escalation is the risk managers' call: they send the field agents. */
const DISPATCHERS: Role[] = ['risk_manager'];
const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };
const reason = z.string().trim().min(10).max(2000).describe('why: it is on the record');

export const caseRoutes: FastifyPluginAsync<CaseRoutesOptions> = async (base, { db }) => {
  const app = zodRoutes(base);

  app.get(
    '/contracts/:id/assignments',
    {
      config: { access: ALL_ROLES, scopedBy: 'contract' },
      schema: {
        tags: ['cases'],
        summary: 'The recovery agents sent to a contract, newest first, ended ones included',
        params: IdParamsSchema,
        response: { 200: z.array(CaseAssignmentSchema), ...errors },
      },
    },
    async (request) => {
      const list = await listAssignments(db, request.params.id, request.viewer);
      if (!list) throw notFound(`contract ${request.params.id}`);
      return list;
    },
  );

  app.post(
    '/contracts/:id/assignments',
    {
      config: { access: DISPATCHERS, scopedBy: 'contract' },
      schema: {
        tags: ['cases'],
        summary: 'Send a recovery agent to a contract until a moment: the agent sees the case until then',
        params: IdParamsSchema,
        body: z.object({
          agent: z.string().trim().min(1).max(64).describe('username of a recovery agent'),
          until: z.iso.datetime({ offset: true }).describe('when the assignment ends'),
          reason,
        }),
        response: { 201: CaseAssignmentSchema, ...errors },
      },
    },
    async (request, reply) => {
      const by = { username: request.user.username, viewer: request.viewer };
      return reply.status(201).send(await assignCase(db, request.params.id, request.body, by));
    },
  );

  app.post(
    '/contracts/:id/assignments/:assignment/revoke',
    {
      config: { access: DISPATCHERS, scopedBy: 'contract' },
      schema: {
        tags: ['cases'],
        summary: 'End an assignment now (ending an ended one changes nothing)',
        params: IdParamsSchema.extend({ assignment: z.string().trim().min(1).max(20) }),
        // Optional: a bare POST ends it too.
        body: z.object({ reason: z.string().trim().max(2000).optional() }).nullish(),
        response: { 200: CaseAssignmentSchema, ...errors },
      },
    },
    async (request) => {
      const by = { username: request.user.username, viewer: request.viewer };
      const why = request.body?.reason ?? '';
      return revokeAssignment(db, request.params.id, request.params.assignment, by, why);
    },
  );

  app.post(
    '/contracts/:id/reveal',
    {
      config: { access: [...REVEALERS], scopedBy: 'contract' },
      schema: {
        tags: ['cases'],
        summary:
          "Show the customer's national id and the phone numbers in full, with a reason (written to the audit chain)",
        params: IdParamsSchema,
        body: z.object({ reason }),
        response: { 200: RevealedSchema, ...errors },
      },
    },
    async (request) => {
      const by = { username: request.user.username, viewer: request.viewer };
      return revealPersonalData(db, request.params.id, by, request.body.reason);
    },
  );
};
