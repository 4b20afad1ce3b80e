/**
 * The finance side over HTTP: contracts (JSON upsert and CSV import), payments, collection records
 * and the accounts list. Every write recomputes the account and hands its stage change, if any, to
 * `onStageChanges` (the live feed).
 */
import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database, Sql } from '../../db/client.ts';
import {
  AccountsPageSchema,
  ActivitySchema,
  ContractViewSchema,
  PaymentSchema,
  StageChangeSchema,
} from '../../shared/api/contracts.ts';
import type { StageChange } from '../../shared/live.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { seesAll, type Viewer } from '../auth/scope.ts';
import { HttpError, notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { importContracts, importPayments } from './import.ts';
import { getContractView, listAccounts, listActivities } from './queries.ts';
import { AccountsQuerySchema, ActivityInputSchema, ContractInputSchema } from './schemas.ts';
import { addPayments, confirmPayment, recordActivity, reversePayment, upsertContract } from './service.ts';

export interface ContractRoutesOptions {
  db: Database;
  now?: () => number;
  onStageChanges?: (changes: StageChange[]) => void;
}

/** Feeding contracts and payments in from the lender's systems. */
const IMPORTERS: Role[] = ['admin', 'risk_manager'];
const PAYMENT_TAKERS: Role[] = ['admin', 'collector', 'risk_manager'];
/** A held payment is confirmed by a risk manager other than its booker (docs/contracts.md). */
const CONFIRMERS: Role[] = ['risk_manager'];
/** A bounced payment is reversed by a risk manager or an admin. */
const REVERSERS: Role[] = ['admin', 'risk_manager'];
/** People who talk to customers and visit them record what happened. */
const RECORDERS: Role[] = ['collector', 'recovery_agent', 'risk_manager'];

/** Contracts come in for every dealer at once: a user limited to some dealers may not feed them. */
const mustSeeAll = (viewer: Viewer) => {
  if (!seesAll(viewer)) throw new HttpError(403, 'importing contracts needs the scope all');
};

const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema };
const RowReportSchema = z.object({
  row: z.number().int(),
  line: z.number().int(),
  number: z.string().nullable(),
  reason: z.string().optional(),
  contractId: z.string().optional(),
  created: z.boolean().optional(),
});
const ImportReportSchema = z.object({
  accepted: z.array(RowReportSchema),
  rejected: z.array(RowReportSchema),
  stageChanges: z.array(StageChangeSchema),
});
const CSV_LIMIT = 32 * 1024 * 1024;

export const contractRoutes: FastifyPluginAsync<ContractRoutesOptions> = async (base, options) => {
  const app = zodRoutes(base);
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: CSV_LIMIT }, (_request, body, done) =>
    done(null, body),
  );
  const { db } = options;
  const now = options.now ?? Date.now;
  const announce = (changes: (StageChange | null)[]) => {
    const real = changes.filter((c): c is StageChange => c !== null);
    if (real.length > 0) options.onStageChanges?.(real);
  };

  app.post(
    '/contracts',
    {
      config: { access: IMPORTERS },
      schema: {
        tags: ['contracts'],
        summary: 'Create or update a contract (upsert by contract number)',
        body: ContractInputSchema,
        response: {
          200: z.object({ id: z.string(), created: z.boolean(), contract: ContractViewSchema }),
          ...errors,
        },
      },
    },
    async (request) => {
      mustSeeAll(request.viewer);
      const result = await db.transaction((tx) => upsertContract(tx, request.body, now()));
      announce([result.stageChange]);
      const contract = await getContractView(db, result.id, now(), request.viewer);
      if (!contract) throw notFound(`contract ${result.id}`);
      return { id: result.id, created: result.created, contract };
    },
  );

  app.post(
    '/contracts/import',
    {
      config: { access: IMPORTERS, limit: 'imports' },
      schema: {
        tags: ['contracts'],
        summary: 'Import contracts from CSV (text/csv); good rows are stored, bad rows reported and left out',
        consumes: ['text/csv'],
        body: z.string(),
        response: { 200: ImportReportSchema, ...errors },
      },
    },
    async (request) => {
      mustSeeAll(request.viewer);
      const report = await importContracts(db, request.body, now());
      announce(report.stageChanges);
      return report;
    },
  );

  app.get(
    '/contracts/:id',
    {
      config: { access: ALL_ROLES, scopedBy: 'contract' },
      schema: {
        tags: ['contracts'],
        summary:
          'A contract with its parties, machine, installations, schedule, payments and overdue summary',
        params: IdParamsSchema,
        response: { 200: ContractViewSchema, ...errors },
      },
    },
    async (request) => {
      const contract = await getContractView(db, request.params.id, now(), request.viewer);
      if (!contract) throw notFound(`contract ${request.params.id}`);
      return contract;
    },
  );

  app.post(
    '/contracts/:id/payments',
    {
      config: { access: PAYMENT_TAKERS, scopedBy: 'contract' },
      schema: {
        tags: ['payments'],
        summary: 'Record a payment (idempotent by reference); the account is recomputed',
        params: IdParamsSchema,
        body: PaymentSchema,
        response: {
          200: z.object({
            added: z.boolean(),
            /** With a GPS stop under way, a payment that would lower the stage waits for a second person. */
            awaitingConfirmation: z.boolean(),
            stageChange: StageChangeSchema.nullable(),
            contract: ContractViewSchema,
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const booking = { bookedBy: request.user.username };
      const result = await db.transaction((tx) => addPayments(tx, id, [request.body], now(), 'api', booking));
      announce([result.stageChange]);
      const contract = await getContractView(db, id, now(), request.viewer);
      if (!contract) throw notFound(`contract ${id}`);
      return {
        added: result.added.length > 0,
        awaitingConfirmation: result.awaitingConfirmation.length > 0,
        stageChange: result.stageChange,
        contract,
      };
    },
  );

  // A second person's word on money: a held payment confirmed, a bounced one reversed.
  for (const act of [
    {
      verb: 'confirm',
      access: CONFIRMERS,
      summary: 'Confirm a payment held for a second person (not its booker): it counts from now on',
      body: z.object({ note: z.string().trim().max(2000).default('') }),
      run: (tx: Sql, id: string, reference: string, by: string, body: { note?: string; reason?: string }) =>
        confirmPayment(tx, id, reference, by, body.note ?? '', now()),
    },
    {
      verb: 'reverse',
      access: REVERSERS,
      summary: 'Reverse a payment that bounced: it stops counting and the stage rises again',
      body: z.object({ reason: z.string().trim().min(5).max(2000) }),
      run: (tx: Sql, id: string, reference: string, by: string, body: { note?: string; reason?: string }) =>
        reversePayment(tx, id, reference, by, body.reason ?? '', now()),
    },
  ]) {
    app.post(
      `/contracts/:id/payments/:reference/${act.verb}`,
      {
        config: { access: act.access, scopedBy: 'contract' },
        schema: {
          tags: ['payments'],
          summary: act.summary,
          params: z.object({ id: z.string(), reference: z.string() }),
          body: act.body,
          response: {
            200: z.object({ stageChange: StageChangeSchema.nullable(), contract: ContractViewSchema }),
            ...errors,
            409: ErrorSchema,
          },
        },
      },
      async (request) => {
        const { id, reference } = request.params;
        const stageChange = await db.transaction((tx) =>
          act.run(tx, id, reference, request.user.username, request.body),
        );
        announce([stageChange]);
        const contract = await getContractView(db, id, now(), request.viewer);
        if (!contract) throw notFound(`contract ${id}`);
        return { stageChange, contract };
      },
    );
  }

  app.post(
    '/payments/import',
    {
      config: { access: PAYMENT_TAKERS, limit: 'imports' },
      schema: {
        tags: ['payments'],
        summary: 'Import payments from CSV (contract_number,date,amount,reference; amount in yuan)',
        consumes: ['text/csv'],
        body: z.string(),
        response: { 200: ImportReportSchema, ...errors },
      },
    },
    async (request) => {
      const importSha256 = createHash('sha256').update(request.body).digest('hex');
      const report = await importPayments(
        db,
        request.body,
        now(),
        {
          bookedBy: request.user.username,
          importSha256,
        },
        request.viewer,
      );
      announce(report.stageChanges);
      return report;
    },
  );

  app.get(
    '/contracts/:id/activities',
    {
      config: { access: ALL_ROLES, scopedBy: 'contract' },
      schema: {
        tags: ['collection records'],
        summary: 'The collection records of a contract, oldest first',
        params: IdParamsSchema,
        response: { 200: z.array(ActivitySchema), ...errors },
      },
    },
    async (request) => {
      const list = await listActivities(db, request.params.id, now(), request.viewer);
      if (!list) throw notFound(`contract ${request.params.id}`);
      return list;
    },
  );

  app.post(
    '/contracts/:id/activities',
    {
      config: { access: RECORDERS, scopedBy: 'contract' },
      schema: {
        tags: ['collection records'],
        summary:
          'Record a contact, promise, dispute, notice, visit or measure (immutable; correct with a new record)',
        params: IdParamsSchema,
        body: ActivityInputSchema,
        response: {
          201: z.object({
            id: z.number().int(),
            stageChange: StageChangeSchema.nullable(),
            nextAction: z.string(),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const result = await db.transaction((tx) =>
        recordActivity(tx, id, request.body, request.user.username, now()),
      );
      announce([result.stageChange]);
      const { rows } = await db.query<{ next_action: string }>(
        'select next_action from contract where id = $1',
        [id],
      );
      return reply.status(201).send({ ...result, nextAction: rows[0]?.next_action ?? 'none' });
    },
  );

  app.get(
    '/accounts',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['accounts'],
        summary: 'Active accounts with overdue figures and next action; sortable and paginated',
        querystring: AccountsQuerySchema,
        response: { 200: AccountsPageSchema, ...errors },
      },
    },
    async (request) => listAccounts(db, request.query, request.viewer),
  );
};
