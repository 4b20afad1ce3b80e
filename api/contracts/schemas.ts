/**
 * The contract API's request and response shapes (zod): they validate requests, and the OpenAPI
 * document is generated from them. Money is integer fen in JSON; CSV imports take yuan (import.ts).
 */
import { z } from 'zod';
import { isIsoDate } from '../../shared/calendar-date.ts';
import { ACTIVITY_KINDS, CHANNELS, DISPUTE_CATEGORIES } from '../../shared/collections.ts';

export const FenSchema = z
  .number()
  .int('amounts are whole fen (1 yuan = 100 fen)')
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .describe('amount in fen (1/100 yuan)');
export const IsoDateSchema = z.string().refine(isIsoDate, 'a date as YYYY-MM-DD').describe('a calendar date');
const TimeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, 'an IANA time zone such as Asia/Shanghai');
const text = (max: number) => z.string().trim().min(1).max(max);

export const AddressSchema = z.object({
  kind: z.enum(['home', 'job_site', 'office', 'other']),
  address: text(500),
  lat: z.number().min(-90).max(90).nullish(),
  lon: z.number().min(-180).max(180).nullish(),
});

export const InstalmentSchema = z.object({
  seq: z.number().int().min(1),
  dueDate: IsoDateSchema,
  principal: FenSchema,
  interest: FenSchema.default(0),
  fees: FenSchema.default(0),
});

export const PaymentSchema = z.object({
  date: IsoDateSchema.describe('the contract-local date the money arrived'),
  amount: FenSchema.refine((v) => v > 0, 'a payment is more than 0 fen'),
  reference: text(100).describe("the lender's payment reference: a payment is recorded once per reference"),
});

export const ContractInputSchema = z
  .object({
    number: text(64).describe('the contract number; upserts are by number'),
    kind: z.enum(['loan', 'finance_lease', 'instalment_sale']),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as CNY')
      .default('CNY'),
    principal: FenSchema,
    downPayment: FenSchema.default(0),
    startDate: IsoDateSchema,
    termMonths: z.number().int().min(1).max(600),
    annualRateBp: z.number().int().min(0).max(100_000).default(0).describe('650 = 6.50 % a year'),
    penaltyRateBp: z
      .number()
      .int()
      .min(0)
      .max(10_000)
      .default(0)
      .describe('per day of the overdue amount; 5 = 0.05 %'),
    graceDays: z.number().int().min(0).max(366).default(0),
    timezone: TimeZoneSchema.default('Asia/Shanghai'),
    firstDueDate: IsoDateSchema.optional().describe('default: one month after startDate'),
    monthlyFee: FenSchema.default(0),
    customer: z.object({
      id: text(64)
        .optional()
        .describe('default: derived from the national id, else from the contract number'),
      name: text(200),
      phone: text(40).nullish(),
      nationalId: text(40).nullish(),
      homeAddress: text(500).nullish(),
      addresses: z.array(AddressSchema).max(20).optional(),
    }),
    guarantors: z
      .array(z.object({ name: text(200), phone: text(40).nullish(), relation: text(40).nullish() }))
      .max(10)
      .default([]),
    dealer: z.object({ id: text(64), name: text(200), province: text(100).nullish() }).optional(),
    machineId: text(64).optional().describe('a machine of the device registry'),
    machineSerial: text(64).optional().describe('or its serial number (PIN)'),
    instalments: z
      .array(InstalmentSchema)
      .min(1)
      .max(600)
      .optional()
      .describe('the schedule; default: equal monthly instalments (annuity) from the terms'),
    payments: z.array(PaymentSchema).max(10_000).default([]),
  })
  .superRefine((c, ctx) => {
    if (c.downPayment > c.principal) {
      ctx.addIssue({ code: 'custom', path: ['downPayment'], message: 'must not exceed principal' });
    }
    if (!c.machineId === !c.machineSerial) {
      ctx.addIssue({
        code: 'custom',
        path: ['machineId'],
        message: 'give machineId or machineSerial (one of them)',
      });
    }
    const seqs = new Set(c.instalments?.map((i) => i.seq));
    if (c.instalments && seqs.size !== c.instalments.length) {
      ctx.addIssue({
        code: 'custom',
        path: ['instalments'],
        message: 'instalment seq numbers must be unique',
      });
    }
    const refs = new Set(c.payments.map((p) => p.reference));
    if (refs.size !== c.payments.length) {
      ctx.addIssue({ code: 'custom', path: ['payments'], message: 'payment references must be unique' });
    }
  });
export type ContractInput = z.infer<typeof ContractInputSchema>;

export const ActivityInputSchema = z
  .object({
    kind: z.enum(ACTIVITY_KINDS),
    occurredAt: z.iso.datetime({ offset: true }).optional().describe('default: now'),
    channel: z.enum(CHANNELS).nullish(),
    outcome: text(200).nullish(),
    body: z.string().max(10_000).default(''),
    promisedDate: IsoDateSchema.nullish(),
    promisedAmount: FenSchema.nullish(),
    disputeCategory: z.enum(DISPUTE_CATEGORIES).nullish(),
    correctsId: z.number().int().positive().nullish().describe('the record this one corrects (same kind)'),
    resolvesId: z
      .number()
      .int()
      .positive()
      .nullish()
      .describe('for dispute_resolved: the dispute_raised it closes'),
  })
  .superRefine((a, ctx) => {
    const need = (field: keyof typeof a, when: string) => {
      if (a[field] === undefined || a[field] === null)
        ctx.addIssue({ code: 'custom', path: [field], message: `required for ${when}` });
    };
    if (a.kind === 'promise_to_pay') {
      need('promisedDate', 'promise_to_pay');
      need('promisedAmount', 'promise_to_pay');
      if (a.promisedAmount === 0)
        ctx.addIssue({ code: 'custom', path: ['promisedAmount'], message: 'must be more than 0' });
    }
    if (a.kind === 'dispute_raised') need('disputeCategory', 'dispute_raised');
    if (a.kind === 'dispute_resolved') need('resolvesId', 'dispute_resolved');
    if (a.kind === 'gps_stop_warning') need('channel', 'gps_stop_warning (the policy counts channels)');
  });
export type ActivityInput = z.infer<typeof ActivityInputSchema>;

export const AccountsQuerySchema = z.object({
  stage: z.coerce.number().int().min(0).max(3).optional(),
  minStage: z.coerce.number().int().min(0).max(3).optional(),
  sort: z.enum(['daysPastDue', 'overdueAmount', 'stage', 'number', 'penalty']).default('daysPastDue'),
  order: z.enum(['asc', 'desc']).default('desc'),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(500).default(50),
});
export type AccountsQuery = z.infer<typeof AccountsQuerySchema>;

// --- responses ----------------------------------------------------------------------------------

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
  occurredAt: z.string(),
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
  payments: z.array(PaymentSchema.extend({ source: z.string() })),
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
