/**
 * The finance side over HTTP: contracts (JSON upsert and CSV import), payments, collection records
 * and the accounts list. Every write recomputes the account and hands its stage change, if any, to
 * `onStageChanges` (the live feed).
 */
import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { Database } from '../../db/client.ts';
import {
  AccountsPageSchema,
  ActivitySchema,
  ContractViewSchema,
  PaymentSchema,
  StageChangeSchema,
} from '../../shared/api/contracts.ts';
import type { StageChange } from '../../shared/live.ts';
import { ALL_ROLES, type Role } from '../../shared/roles.ts';
import { notFound } from '../http/errors.ts';
import { ErrorSchema, IdParamsSchema } from '../http/schemas.ts';
import { zodRoutes } from '../http/zod-routes.ts';
import { importContracts, importPayments } from './import.ts';
import { getContractView, listAccounts, listActivities } from './queries.ts';
import { AccountsQuerySchema, ActivityInputSchema, ContractInputSchema } from './schemas.ts';
import { addPayments, recordActivity, upsertContract } from './service.ts';

export interface ContractRoutesOptions {
  db: Database;
  now?: () => number;
  onStageChanges?: (changes: StageChange[]) => void;
}

/** Feeding contracts and payments in from the lender's systems. */
const IMPORTERS: Role[] = ['admin', 'risk_manager'];
const PAYMENT_TAKERS: Role[] = ['admin', 'collector', 'risk_manager'];
/** People who talk to customers and visit them record what happened. */
const RECORDERS: Role[] = ['collector', 'recovery_agent', 'risk_manager'];

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
      const result = await db.transaction((tx) => upsertContract(tx, request.body, now()));
      announce([result.stageChange]);
      const contract = await getContractView(db, result.id, now());
      if (!contract) throw notFound(`contract ${result.id}`);
      return { id: result.id, created: result.created, contract };
    },
  );

  app.post(
    '/contracts/import',
    {
      config: { access: IMPORTERS },
      schema: {
        tags: ['contracts'],
        summary: 'Import contracts from CSV (text/csv); good rows are stored, bad rows reported and left out',
        consumes: ['text/csv'],
        body: z.string(),
        response: { 200: ImportReportSchema, ...errors },
      },
    },
    async (request) => {
      const report = await importContracts(db, request.body, now());
      announce(report.stageChanges);
      return report;
    },
  );

  app.get(
    '/contracts/:id',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['contracts'],
        summary:
          'A contract with its parties, machine, installations, schedule, payments and overdue summary',
        params: IdParamsSchema,
        response: { 200: ContractViewSchema, ...errors },
      },
    },
    async (request) => {
      const contract = await getContractView(db, request.params.id, now());
      if (!contract) throw notFound(`contract ${request.params.id}`);
      return contract;
    },
  );

  app.post(
    '/contracts/:id/payments',
    {
      config: { access: PAYMENT_TAKERS },
      schema: {
        tags: ['payments'],
        summary: 'Record a payment (idempotent by reference); the account is recomputed',
        params: IdParamsSchema,
        body: PaymentSchema,
        response: {
          200: z.object({
            added: z.boolean(),
            stageChange: StageChangeSchema.nullable(),
            contract: ContractViewSchema,
          }),
          ...errors,
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      const result = await db.transaction((tx) => addPayments(tx, id, [request.body], now()));
      announce([result.stageChange]);
      const contract = await getContractView(db, id, now());
      if (!contract) throw notFound(`contract ${id}`);
      return { added: result.added.length > 0, stageChange: result.stageChange, contract };
    },
  );

  app.post(
    '/payments/import',
    {
      config: { access: PAYMENT_TAKERS },
      schema: {
        tags: ['payments'],
        summary: 'Import payments from CSV (contract_number,date,amount,reference; amount in yuan)',
        consumes: ['text/csv'],
        body: z.string(),
        response: { 200: ImportReportSchema, ...errors },
      },
    },
    async (request) => {
      const report = await importPayments(db, request.body, now());
      announce(report.stageChanges);
      return report;
    },
  );

  app.get(
    '/contracts/:id/activities',
    {
      config: { access: ALL_ROLES },
      schema: {
        tags: ['collection records'],
        summary: 'The collection records of a contract, oldest first',
        params: IdParamsSchema,
        response: { 200: z.array(ActivitySchema), ...errors },
      },
    },
    async (request) => {
      const list = await listActivities(db, request.params.id, now());
      if (!list) throw notFound(`contract ${request.params.id}`);
      return list;
    },
  );

  app.post(
    '/contracts/:id/activities',
    {
      config: { access: RECORDERS },
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
    async (request) => listAccounts(db, request.query),
  );
};
