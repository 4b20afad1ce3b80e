/**
 * Remote commands over HTTP: request (with the policy's evaluation in plain words), approve,
 * reject, cancel, and read with every transition. Only risk managers act; everyone signed in reads.
 */

import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database, Sql } from '../../db/client.ts';
import { CommandSummarySchema, CommandViewSchema } from '../../shared/api/commands.ts';
import { COMMAND_STATES } from '../../shared/commands.ts';
import {
  COMMAND_TYPES,
  decisionDueAt,
  type Evaluation,
  evaluate,
  type PolicyProfile,
} from '../../shared/policy.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { inScope } from '../auth/scope-check.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import type { Dispatcher } from './dispatcher.ts';
import type { CommandFeed } from './feed.ts';
import {
  approveCommand,
  cancelCommand,
  overrideDispute,
  profileNamed,
  rejectCommand,
  requestCommand,
} from './service.ts';
import {
  approvalsOf,
  type CommandRow,
  findCommand,
  findCommands,
  policyContext,
  transitionsOf,
} from './store.ts';

export interface CommandRoutesOptions {
  db: Database;
  feed: CommandFeed;
  profile: PolicyProfile;
  dispatcher?: Pick<Dispatcher, 'dispatchNow'> | undefined;
  now?: () => number;
}

const DECIDERS: Role[] = ['risk_manager'];
const errors = {
  400: ErrorSchema,
  401: ErrorSchema,
  403: ErrorSchema,
  404: ErrorSchema,
  409: ErrorSchema,
  422: ErrorSchema,
};

const IdParams = z.object({ id: z.string().min(1).max(64) });
const iso = (v: number | null) => (v === null ? null : new Date(v).toISOString());

function summary(c: CommandRow) {
  return {
    id: c.id,
    deviceId: c.deviceId,
    contractId: c.contractId,
    type: c.type,
    state: c.state,
    reason: c.reason,
    requestedBy: c.requestedBy,
    requestedAt: new Date(c.requestedAt).toISOString(),
    profile: c.profile,
    emergency: c.emergency,
    expiresAt: new Date(c.expiresAt).toISOString(),
    attempts: c.attempts,
    lastSentAt: iso(c.lastSentAt),
    ackedAt: iso(c.ackedAt),
    ackReason: c.ackReason,
    executedAt: iso(c.executedAt),
    decideBy:
      c.type === 'immobilize' && c.state === 'EXECUTED' && c.executedAt !== null
        ? iso(decisionDueAt(c.executedAt, profileNamed(c.profile)))
        : null,
  };
}

/**
 * A command as the api shows it, with the policy's evaluation now. A request or an approval has just
 * evaluated the policy in its transaction; its evaluation is passed in rather than loaded again.
 */
async function view(sql: Sql, c: CommandRow, now: number, evaluated?: Evaluation | null) {
  const evaluation =
    evaluated ??
    evaluate(
      { type: c.type, requestedBy: c.requestedBy },
      await policyContext(sql, c, profileNamed(c.profile), now),
    );
  const approvals = (await approvalsOf(sql, c.id)).map((a) => ({
    by: a.by,
    decision: a.decision,
    note: a.note,
    at: new Date(a.at).toISOString(),
  }));
  return { ...summary(c), evaluation, approvals, transitions: await transitionsOf(sql, c.id) };
}

export const commandRoutes: FastifyPluginAsync<CommandRoutesOptions> = async (base, o) => {
  const app = zodRoutes(base);
  const now = o.now ?? Date.now;
  const deps = () => ({ profile: o.profile });
  const load = async (id: string, evaluated?: Evaluation | null) => {
    const c = await findCommand(o.db, id);
    if (!c) throw notFound(`command ${id}`);
    return view(o.db, c, now(), evaluated);
  };

  app.post(
    '/commands',
    {
      config: { access: DECIDERS },
      schema: {
        tags: ['commands'],
        summary:
          'Request a command (immobilize, release, warn, locate) for a contract or a device; returns the policy evaluation',
        body: z
          .object({
            contractId: z.string().min(1).max(64).optional(),
            deviceId: z.string().min(1).max(64).optional(),
            type: z.enum(COMMAND_TYPES),
            reason: z.string().trim().min(3).max(1000).describe('why: it is on the record'),
          })
          .refine(
            (b) => b.contractId !== undefined || b.deviceId !== undefined,
            'give contractId or deviceId',
          ),
        response: { 201: CommandViewSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { contractId, deviceId } = request.body;
      if (contractId !== undefined && !(await inScope(o.db, 'contract', contractId, request.viewer)))
        throw notFound(`contract ${contractId}`);
      if (deviceId !== undefined && !(await inScope(o.db, 'device', deviceId, request.viewer)))
        throw notFound(`device ${deviceId}`);
      const { command, evaluation } = await o.feed.run((tx, onTransition) =>
        requestCommand(tx, request.body, request.user, now(), { ...deps(), onTransition }),
      );
      await o.dispatcher?.dispatchNow(command.id);
      return reply.status(201).send(await load(command.id, evaluation));
    },
  );

  const decide = (
    path: string,
    summaryText: string,
    field: 'note' | 'reason',
    act: typeof approveCommand | typeof rejectCommand | typeof cancelCommand,
  ) =>
    app.post(
      `/commands/:id/${path}`,
      {
        config: { access: DECIDERS, scopedBy: 'command' },
        schema: {
          tags: ['commands'],
          summary: summaryText,
          params: IdParams,
          body: z.object({ [field]: z.string().trim().max(1000).default('') }),
          response: { 200: CommandViewSchema, ...errors },
        },
      },
      async (request) => {
        const text = (request.body as Record<string, string>)[field] ?? '';
        const { command, evaluation } = await o.feed.run((tx, onTransition) =>
          act(tx, request.params.id, request.user, text, now(), { ...deps(), onTransition }),
        );
        await o.dispatcher?.dispatchNow(command.id);
        return load(command.id, evaluation);
      },
    );
  decide(
    'approve',
    'Approve as the second risk manager (not the requester); the policy is evaluated again',
    'note',
    approveCommand,
  );
  decide('reject', 'Reject a requested command', 'note', rejectCommand);
  decide('cancel', 'Cancel a command that has not gone out yet', 'reason', cancelCommand);

  app.get(
    '/commands/:id',
    {
      config: { access: ALL_ROLES, scopedBy: 'command' },
      schema: {
        tags: ['commands'],
        summary: 'A command with its approvals, every transition and the policy evaluation now',
        params: IdParams,
        response: { 200: CommandViewSchema, ...errors },
      },
    },
    async (request) => load(request.params.id),
  );

  app.get(
    '/commands',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['commands'],
        summary: 'Commands, newest first, by state, device or contract',
        querystring: z.object({
          state: z
            .string()
            .transform((s) => s.split(','))
            .pipe(z.array(z.enum(COMMAND_STATES)))
            .optional()
            .describe('one or more states, comma separated'),
          deviceId: z.string().optional(),
          contractId: z.string().optional(),
          limit: z.coerce.number().int().min(1).max(1000).default(200),
        }),
        response: { 200: z.array(CommandSummarySchema), ...errors },
      },
    },
    async (request) => {
      const q = request.query;
      const rows = await findCommands(o.db, {
        states: q.state,
        deviceId: q.deviceId,
        contractId: q.contractId,
        limit: q.limit,
        viewer: request.viewer,
      });
      return rows.map(summary);
    },
  );

  app.post(
    '/contracts/:id/dispute-override',
    {
      config: { access: DECIDERS, scopedBy: 'contract' },
      schema: {
        tags: ['commands'],
        summary:
          'Record a documented override of the open disputes of a contract (lets an immobilize through them)',
        params: IdParams,
        body: z.object({ reason: z.string().trim().min(10).max(2000) }),
        response: { 201: z.object({ ok: z.literal(true) }), ...errors },
      },
    },
    async (request, reply) => {
      await o.feed.run(async (tx, _onTransition, record) => {
        await overrideDispute(tx, request.params.id, request.user, request.body.reason, now());
        await record({
          actor: request.user.username,
          action: 'policy.dispute_override',
          subject: `contract:${request.params.id}`,
          detail: { reason: request.body.reason },
        });
      });
      return reply.status(201).send({ ok: true as const });
    },
  );
};
