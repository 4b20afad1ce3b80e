/**
 * The contract API's request shapes (zod): they validate requests, and the OpenAPI document is
 * generated from them; the responses are in shared/api/contracts.ts. Money is integer fen in JSON; CSV imports take yuan (import.ts).
 */
import { z } from 'zod';
import { AddressSchema, FenSchema, IsoDateSchema, PaymentSchema } from '../../shared/api/contracts.ts';
import { ACTIVITY_KINDS, CHANNELS, DISPUTE_CATEGORIES } from '../../shared/collections.ts';
import { PLATFORM_TIME_ZONE } from '../../shared/config.ts';

const TimeZoneSchema = z.string().refine((tz) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}, `an IANA time zone such as ${PLATFORM_TIME_ZONE}`);
const text = (max: number) => z.string().trim().min(1).max(max);

export const InstalmentSchema = z.object({
  seq: z.number().int().min(1),
  dueDate: IsoDateSchema,
  principal: FenSchema,
  interest: FenSchema.default(0),
  fees: FenSchema.default(0),
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
    timezone: TimeZoneSchema.default(PLATFORM_TIME_ZONE),
    firstDueDate: IsoDateSchema.optional().describe('default: one month after startDate'),
    monthlyFee: FenSchema.default(0),
    customer: z.object({
      id: text(64)
        .optional()
        .describe('default: the stored customer with the same national id, else CU-<contract number>'),
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
