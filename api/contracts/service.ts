/**
 * Contract writes as the lender's systems send them: upsert by contract number, payments by
 * reference, collection records. Each runs in the caller's transaction and returns the stage
 * change it caused, if any, for the live feed.
 */
import { randomUUID } from 'node:crypto';
import type { Sql } from '../../db/client.ts';
import { assessAccount } from '../../shared/account.ts';
import { addMonthsClamped, type IsoDate, localDate } from '../../shared/calendar-date.ts';
import { ConflictError, NotAllowedError, NotFoundError, UnprocessableError } from '../../shared/errors.ts';
import type { StageChange } from '../../shared/live.ts';
import type { Payment } from '../../shared/overdue.ts';
import { buildSchedule } from '../../shared/schedule.ts';
import { appendAudit } from '../audit/log.ts';
import { gpsStopUnderWay } from '../commands/store.ts';
import type { ActivityInput, ContractInput } from './schemas.ts';
import {
  type Booking,
  type ContractRecord,
  findPayment,
  holdForConfirmation,
  insertPayments,
  loadAccountInputs,
  markConfirmed,
  markReversed,
  refreshAccount,
  releaseHold,
  saveContract,
} from './store.ts';

export interface UpsertResult {
  id: string;
  created: boolean;
  stageChange: StageChange | null;
}

/** The contract-local "today" of a contract. */
export async function todayOf(tx: Sql, contractId: string, now: number): Promise<IsoDate> {
  const { rows } = await tx.query<{ timezone: string }>('select timezone from contract where id = $1', [
    contractId,
  ]);
  if (!rows[0]) throw new NotFoundError(`contract ${contractId}`);
  return localDate(now, rows[0].timezone);
}

export async function upsertContract(
  tx: Sql,
  input: ContractInput,
  now: number,
  source = 'api',
): Promise<UpsertResult> {
  const { rows: existing } = await tx.query<{ id: string; customer_id: string }>(
    'select id, customer_id from contract where number = $1',
    [input.number],
  );
  const id = existing[0]?.id ?? randomUUID();
  const machineId = await resolveMachine(tx, input);
  const customerId = input.customer.id ?? existing[0]?.customer_id ?? (await customerIdFor(tx, input));
  const record = toRecord(input, id, machineId, customerId);
  const stageChange = await saveContract(tx, record, localDate(now, input.timezone), source);
  return { id, created: existing.length === 0, stageChange };
}

async function resolveMachine(tx: Sql, input: ContractInput): Promise<string> {
  const { rows } = input.machineId
    ? await tx.query<{ id: string }>('select id from machine where id = $1', [input.machineId])
    : await tx.query<{ id: string }>('select id from machine where serial = $1', [input.machineSerial]);
  const machine = rows[0];
  if (!machine) {
    const which = input.machineId ? `id ${input.machineId}` : `serial ${input.machineSerial}`;
    throw new UnprocessableError(`no machine with ${which}: provision its GPS device first`);
  }
  return machine.id;
}

/**
 * The id of a customer the lender gave none for: the customer already stored with the same national
 * id (one person, one row), else one made from the contract number. Never built from personal data:
 * ids travel in URLs, logs and exports.
 */
async function customerIdFor(tx: Sql, input: ContractInput): Promise<string> {
  if (input.customer.nationalId) {
    const { rows } = await tx.query<{ id: string }>(
      'select id from customer where national_id = $1 order by created_at, id limit 1',
      [input.customer.nationalId],
    );
    if (rows[0]) return rows[0].id;
  }
  return `CU-${input.number}`;
}

function toRecord(c: ContractInput, id: string, machineId: string, customerId: string): ContractRecord {
  const instalments =
    c.instalments ??
    buildSchedule({
      principal: c.principal,
      downPayment: c.downPayment,
      annualRateBp: c.annualRateBp,
      termMonths: c.termMonths,
      firstDueDate: c.firstDueDate ?? addMonthsClamped(c.startDate, 1),
      monthlyFee: c.monthlyFee,
    });
  const cu = c.customer;
  return {
    id,
    number: c.number,
    machineId,
    kind: c.kind,
    currency: c.currency,
    customer: {
      id: customerId,
      name: cu.name,
      phone: cu.phone ?? null,
      nationalId: cu.nationalId ?? null,
      homeAddress: cu.homeAddress ?? null,
      addresses: cu.addresses,
    },
    guarantors: c.guarantors.map((g) => ({
      name: g.name,
      phone: g.phone ?? null,
      relation: g.relation ?? null,
    })),
    dealer: c.dealer ? { id: c.dealer.id, name: c.dealer.name, province: c.dealer.province ?? null } : null,
    principal: c.principal,
    downPayment: c.downPayment,
    annualRateBp: c.annualRateBp,
    termMonths: c.termMonths,
    startDate: c.startDate,
    penaltyRateBp: c.penaltyRateBp,
    graceDays: c.graceDays,
    timeZone: c.timezone,
    instalments,
    payments: c.payments,
  };
}

export interface PaymentResult {
  added: string[];
  duplicates: string[];
  /** Of the added, those that count only once a second person confirms them. */
  awaitingConfirmation: string[];
  stageChange: StageChange | null;
}

/** Records payments (idempotent by reference) and recomputes the account as of today. */
export async function addPayments(
  tx: Sql,
  contractId: string,
  payments: readonly Payment[],
  now: number,
  source = 'api',
  booking: Booking = { bookedBy: 'system' },
): Promise<PaymentResult> {
  const today = await todayOf(tx, contractId, now);
  const future = payments.find((p) => p.date > today);
  if (future)
    throw new UnprocessableError(
      `payment ${future.reference} is dated ${future.date}, after today (${today})`,
    );
  const added = await insertPayments(tx, contractId, payments, source, booking);
  const fresh = new Set(added);
  const duplicates = payments.map((p) => p.reference).filter((r) => !fresh.has(r));
  const awaitingConfirmation =
    source === 'api' && added.length > 0 && (await gpsStopUnderWay(tx, contractId))
      ? await heldIfLowering(
          tx,
          contractId,
          payments.filter((p) => fresh.has(p.reference)),
          today,
        )
      : [];
  for (const p of payments.filter((x) => fresh.has(x.reference))) {
    await appendAudit(tx, {
      actor: booking.bookedBy,
      action: 'payment.booked',
      subject: `contract:${contractId}`,
      detail: {
        reference: p.reference,
        amount: p.amount,
        date: p.date,
        source,
        ...(booking.importSha256 ? { fileSha256: booking.importSha256 } : {}),
        awaitingConfirmation: awaitingConfirmation.includes(p.reference),
      },
    });
  }
  const stageChange =
    added.length > 0 ? await refreshAccount(tx, contractId, today, 'payment received', now) : null;
  return { added, duplicates, awaitingConfirmation, stageChange };
}

/**
 * With a GPS stop under way, hand-entered payments that would lower the stage are held until a
 * second person confirms them: one person's booking must not release a machine two people stopped.
 * Returns the references held.
 */
async function heldIfLowering(
  tx: Sql,
  contractId: string,
  added: Payment[],
  today: IsoDate,
): Promise<string[]> {
  const references = added.map((p) => p.reference);
  await holdForConfirmation(tx, contractId, references);
  const loaded = await loadAccountInputs(tx, contractId);
  if (!loaded) return [];
  const without = assessAccount(loaded.inputs, today).overdue.stage;
  const withThem = assessAccount({ ...loaded.inputs, payments: [...loaded.inputs.payments, ...added] }, today)
    .overdue.stage;
  if (withThem < without) return references;
  await releaseHold(tx, contractId, references);
  return [];
}

/** A risk manager other than the booker confirms a held payment: it counts from now on. */
export async function confirmPayment(
  tx: Sql,
  contractId: string,
  reference: string,
  by: string,
  note: string,
  now: number,
): Promise<StageChange | null> {
  const p = await findPayment(tx, contractId, reference);
  if (!p) throw new NotFoundError(`payment ${reference} of contract ${contractId}`);
  if (!p.needsConfirmation || p.confirmedBy !== null || p.reversedAt !== null)
    throw new ConflictError(`payment ${reference} is not waiting for a confirmation`);
  if (p.bookedBy === by) throw new NotAllowedError('the person who booked a payment cannot confirm it');
  await markConfirmed(tx, contractId, reference, by, now);
  await appendAudit(tx, {
    actor: by,
    action: 'payment.confirmed',
    subject: `contract:${contractId}`,
    detail: { reference, amount: p.amount, bookedBy: p.bookedBy, note },
  });
  return refreshAccount(tx, contractId, await todayOf(tx, contractId, now), 'payment confirmed', now);
}

/** A payment that bounced is reversed, never deleted: it stops counting and the stage rises again. */
export async function reversePayment(
  tx: Sql,
  contractId: string,
  reference: string,
  by: string,
  reason: string,
  now: number,
): Promise<StageChange | null> {
  const p = await findPayment(tx, contractId, reference);
  if (!p) throw new NotFoundError(`payment ${reference} of contract ${contractId}`);
  if (p.reversedAt !== null) throw new ConflictError(`payment ${reference} was reversed already`);
  await markReversed(tx, contractId, reference, by, reason, now);
  await appendAudit(tx, {
    actor: by,
    action: 'payment.reversed',
    subject: `contract:${contractId}`,
    detail: { reference, amount: p.amount, bookedBy: p.bookedBy, reason },
  });
  return refreshAccount(tx, contractId, await todayOf(tx, contractId, now), 'payment reversed', now);
}

export interface ActivityResult {
  id: number;
  stageChange: StageChange | null;
}

/** Records one collection record; records are never changed afterwards (see the migration's trigger). */
export async function recordActivity(
  tx: Sql,
  contractId: string,
  a: ActivityInput,
  actor: string,
  now: number,
): Promise<ActivityResult> {
  const today = await todayOf(tx, contractId, now);
  if (a.occurredAt && Date.parse(a.occurredAt) > now + 5 * 60_000) {
    throw new UnprocessableError('occurredAt is in the future');
  }
  await checkReference(tx, contractId, a.correctsId, a.kind, 'correctsId');
  await checkReference(tx, contractId, a.resolvesId, 'dispute_raised', 'resolvesId');
  const { rows } = await tx.query<{ id: number | string }>(
    `insert into activity (contract_id, kind, actor, occurred_at, channel, outcome, body, promised_date,
                           promised_amount, dispute_category, corrects_id, resolves_id, recorded_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) returning id`,
    [
      contractId,
      a.kind,
      actor,
      a.occurredAt ?? new Date(now).toISOString(),
      a.channel ?? null,
      a.outcome ?? null,
      a.body,
      a.promisedDate ?? null,
      a.promisedAmount ?? null,
      a.disputeCategory ?? null,
      a.correctsId ?? null,
      a.resolvesId ?? null,
      // The server's stamp, never the client's claim: the GPS-stop policy counts from it.
      new Date(now).toISOString(),
    ],
  );
  const stageChange = await refreshAccount(tx, contractId, today, `${a.kind} recorded`, now);
  return { id: Number(rows[0]?.id), stageChange };
}

async function checkReference(
  tx: Sql,
  contractId: string,
  id: number | null | undefined,
  kind: string,
  field: string,
): Promise<void> {
  if (id === null || id === undefined) return;
  const { rows } = await tx.query<{ kind: string }>(
    'select kind from activity where id = $1 and contract_id = $2',
    [id, contractId],
  );
  if (!rows[0]) throw new UnprocessableError(`${field}: no record ${id} on this contract`);
  if (rows[0].kind !== kind)
    throw new UnprocessableError(`${field}: record ${id} is a ${rows[0].kind}, not a ${kind}`);
}
