/**
 * The contract api's answers (zod), written once: the api serialises and documents its responses
 * with them, the web app's types are inferred from them. Also the shapes requests and answers share
 * (money, dates, addresses, payments). Money is integer fen in JSON.
 */
import { z } from 'zod';
import { isIsoDate } from '../calendar-date.ts';
import { ACTIVITY_KINDS } from '../collections.ts';

const text = (max: number) => z.string().trim().min(1).max(max);

export const FenSchema = z
  .number()
  .int('amounts are whole fen (1 yuan = 100 fen)')
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .describe('amount in fen (1/100 yuan)');
export const IsoDateSchema = z.string().refine(isIsoDate, 'a date as YYYY-MM-DD').describe('a calendar date');

export const AddressSchema = z.object({
  kind: z.enum(['home', 'job_site', 'office', 'other']),
  address: text(500),
  lat: z.number().min(-90).max(90).nullish(),
  lon: z.number().min(-180).max(180).nullish(),
});

export const PaymentSchema = z.object({
  date: IsoDateSchema.describe('the contract-local date the money arrived'),
  amount: FenSchema.refine((v) => v > 0, 'a payment is more than 0 fen'),
  reference: text(100).describe("the lender's payment reference: a payment is recorded once per reference"),
});

const StageSchema = z.number().int().min(0).max(3);

export const StageChangeSchema = z.object({
  contractId: z.string(),
  contractNumber: z.string(),
  machineId: z.string(),
  from: StageSchema.nullable(),
  to: StageSchema,
  at: z.string(),
  reason: z.string(),
});

export const NextActionSchema = z.object({
  code: z.string(),
  text: z.string(),
  alternatives: z.array(z.string()),
  gpsStopEligible: z.boolean(),
});

export const OverdueSummarySchema = z.object({
  asOf: z.string(),
  stage: StageSchema,
  overdueInstalments: z.number().int(),
  overdueAmount: z.number().int(),
  daysPastDue: z.number().int(),
  penalty: z.number().int(),
  dueUnpaid: z.number().int(),
  totalOutstanding: z.number().int(),
  totalPaid: z.number().int(),
  settled: z.boolean(),
});

export const ActivitySchema = z.object({
  id: z.number().int(),
  kind: z.enum(ACTIVITY_KINDS),
  actor: z.string(),
  /** When it happened, as recorded by its author. */
  occurredAt: z.string(),
  /** When the platform recorded it (server clock): what the GPS-stop policy counts from. */
  recordedAt: z.string(),
  channel: z.string().nullable(),
  outcome: z.string().nullable(),
  body: z.string(),
  promisedDate: z.string().nullable(),
  promisedAmount: z.number().nullable(),
  disputeCategory: z.string().nullable(),
  correctsId: z.number().nullable(),
  resolvesId: z.number().nullable(),
  /** Replaced by a later correction. */
  superseded: z.boolean(),
  promiseStatus: z.enum(['pending', 'kept', 'broken']).nullable(),
});

export const ContractViewSchema = z.object({
  id: z.string(),
  number: z.string(),
  kind: z.string(),
  status: z.string(),
  currency: z.string(),
  principal: z.number().int(),
  downPayment: z.number().int(),
  startDate: z.string(),
  termMonths: z.number().int(),
  annualRateBp: z.number().int(),
  penaltyRateBp: z.number().int(),
  graceDays: z.number().int(),
  timezone: z.string(),
  customer: z.object({
    id: z.string(),
    name: z.string(),
    phone: z.string().nullable(),
    nationalId: z.string().nullable(),
    homeAddress: z.string().nullable(),
    addresses: z.array(AddressSchema.extend({ lat: z.number().nullable(), lon: z.number().nullable() })),
  }),
  guarantors: z.array(
    z.object({ name: z.string(), phone: z.string().nullable(), relation: z.string().nullable() }),
  ),
  dealer: z.object({ id: z.string(), name: z.string(), province: z.string().nullable() }).nullable(),
  machine: z.object({
    id: z.string(),
    make: z.string(),
    model: z.string(),
    type: z.string(),
    serial: z.string(),
    year: z.number().nullable(),
  }),
  installations: z.array(
    z.object({ deviceId: z.string(), installedAt: z.string(), removedAt: z.string().nullable() }),
  ),
  overdue: OverdueSummarySchema,
  instalments: z.array(
    z.object({
      seq: z.number().int(),
      dueDate: z.string(),
      amountDue: z.number().int(),
      paid: z.number().int(),
      unpaid: z.number().int(),
      status: z.enum(['paid', 'not_due', 'due', 'overdue']),
      paidOn: z.string().nullable(),
      daysPastDue: z.number().int(),
    }),
  ),
  payments: z.array(
    PaymentSchema.extend({
      /** 'api' (entered by hand), 'import' (a bank file), 'demo'. */
      source: z.string(),
      bookedBy: z.string(),
      /** Held for a second person's confirmation (it does not count until then). */
      awaitingConfirmation: z.boolean(),
      confirmedBy: z.string().nullable(),
      confirmedAt: z.string().nullable(),
      reversedBy: z.string().nullable(),
      reversedAt: z.string().nullable(),
    }),
  ),
  promises: z.array(
    z.object({
      activityId: z.number().int(),
      promisedDate: z.string(),
      promisedAmount: z.number().int(),
      paidTowards: z.number().int(),
      status: z.enum(['pending', 'kept', 'broken']),
    }),
  ),
  openDisputes: z.number().int(),
  nextAction: NextActionSchema,
  stageHistory: z.array(
    z.object({ from: StageSchema.nullable(), to: StageSchema, at: z.string(), reason: z.string() }),
  ),
  /** Which personal data above is masked for the caller (shown in full only by a reveal). */
  masked: z.object({ phone: z.boolean(), nationalId: z.boolean() }),
});
export type ContractView = z.infer<typeof ContractViewSchema>;

export const AccountRowSchema = z.object({
  contractId: z.string(),
  number: z.string(),
  customer: z.string(),
  phone: z.string().nullable(),
  dealer: z.string().nullable(),
  machineId: z.string(),
  deviceId: z.string().nullable(),
  stage: StageSchema,
  overdueInstalments: z.number().int(),
  overdueAmount: z.number().int(),
  daysPastDue: z.number().int(),
  penalty: z.number().int(),
  nextAction: z.string(),
  asOf: z.string().nullable(),
});

export const AccountsPageSchema = z.object({
  total: z.number().int(),
  page: z.number().int(),
  pageSize: z.number().int(),
  items: z.array(AccountRowSchema),
});
export type AccountRow = z.infer<typeof AccountRowSchema>;
export type AccountsPage = z.infer<typeof AccountsPageSchema>;
export type Activity = z.infer<typeof ActivitySchema>;

/** A recovery agent sent to a case: who sent whom, when, until when, and whether it was ended early. */
export const CaseAssignmentSchema = z.object({
  id: z.string(),
  contractId: z.string(),
  agent: z.string(),
  assignedBy: z.string(),
  assignedAt: z.string(),
  until: z.string(),
  reason: z.string(),
  revokedAt: z.string().nullable(),
  revokedBy: z.string().nullable(),
  /** Not revoked and not yet at its end: the agent sees the case. */
  active: z.boolean(),
});
export type CaseAssignment = z.infer<typeof CaseAssignmentSchema>;

/** The answer of a reveal: the customer's and guarantors' personal data in full. */
export const RevealedSchema = z.object({
  contractId: z.string(),
  customer: z.object({ phone: z.string().nullable(), nationalId: z.string().nullable() }),
  guarantors: z.array(z.object({ name: z.string(), phone: z.string().nullable() })),
});
export type Revealed = z.infer<typeof RevealedSchema>;
