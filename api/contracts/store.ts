/**
 * Writes contracts with their schedule and payments, and keeps the cached account figures in step
 * with the engines: what is stored in contract.stage (and the figures next to it) is always what
 * assessAccount makes of the stored instalments, payments and collection records as of a date, and
 * every change of stage is recorded in stage_change and returned for the live feed.
 */
import type { Database, Sql } from '../../db/client.ts';
import { assessAccount } from '../../shared/account.ts';
import { type IsoDate, localDate } from '../../shared/calendar-date.ts';
import type { Activity } from '../../shared/collections.ts';
import type { StageChange } from '../../shared/live.ts';
import type { Fen } from '../../shared/money.ts';
import type { Instalment, Payment } from '../../shared/overdue.ts';

export type ContractKind = 'loan' | 'finance_lease' | 'instalment_sale';
export type AddressKind = 'home' | 'job_site' | 'office' | 'other';

export interface ContractRecord {
  id: string;
  number: string;
  machineId: string;
  kind: ContractKind;
  currency: string;
  customer: {
    id: string;
    name: string;
    phone: string | null;
    nationalId: string | null;
    homeAddress: string | null;
    addresses?: { kind: AddressKind; address: string; lat?: number | null; lon?: number | null }[];
  };
  guarantors: { name: string; phone: string | null; relation: string | null }[];
  dealer: { id: string; name: string; province: string | null } | null;
  principal: Fen;
  downPayment: Fen;
  annualRateBp: number;
  termMonths: number;
  startDate: IsoDate;
  penaltyRateBp: number;
  graceDays: number;
  timeZone: string;
  instalments: Instalment[];
  payments: Payment[];
}

/** Saves many contracts in one transaction (the demo fleet); returns the stage changes. */
export async function saveContracts(
  db: Database,
  contracts: ContractRecord[],
  asOf: IsoDate,
  source = 'api',
): Promise<StageChange[]> {
  return db.transaction(async (tx) => {
    const changes: StageChange[] = [];
    for (const c of contracts) {
      const change = await saveContract(tx, c, asOf, source);
      if (change) changes.push(change);
    }
    return changes;
  });
}

/**
 * Upserts by contract id. The schedule, guarantors and the customer's addresses are replaced by the
 * record's (a restructured contract gets a new schedule); payments are added, idempotent by their
 * reference, and never deleted.
 */
export async function saveContract(
  tx: Sql,
  c: ContractRecord,
  asOf: IsoDate,
  source = 'api',
): Promise<StageChange | null> {
  if (c.dealer) {
    await tx.query(
      `insert into dealer (id, name, province) values ($1, $2, $3)
       on conflict (id) do update set name = excluded.name, province = excluded.province`,
      [c.dealer.id, c.dealer.name, c.dealer.province],
    );
  }
  const cu = c.customer;
  await tx.query(
    `insert into customer (id, name, phone, national_id, home_address) values ($1, $2, $3, $4, $5)
     on conflict (id) do update set name = excluded.name, phone = excluded.phone,
       national_id = excluded.national_id, home_address = excluded.home_address`,
    [cu.id, cu.name, cu.phone, cu.nationalId, cu.homeAddress],
  );
  if (cu.addresses) {
    await tx.query('delete from customer_address where customer_id = $1', [cu.id]);
    const a = cu.addresses;
    await tx.query(
      `insert into customer_address (customer_id, kind, address, lat, lon)
       select $1, * from unnest($2::text[], $3::text[], $4::float8[], $5::float8[])`,
      [
        cu.id,
        a.map((x) => x.kind),
        a.map((x) => x.address),
        a.map((x) => x.lat ?? null),
        a.map((x) => x.lon ?? null),
      ],
    );
  }
  await tx.query(
    `insert into contract (id, number, kind, dealer_id, customer_id, machine_id, currency, principal, down_payment,
                           start_date, term_months, annual_rate_bp, penalty_rate_bp, grace_days, timezone)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     on conflict (id) do update set number = excluded.number, kind = excluded.kind, dealer_id = excluded.dealer_id,
       customer_id = excluded.customer_id, machine_id = excluded.machine_id, currency = excluded.currency,
       principal = excluded.principal, down_payment = excluded.down_payment, start_date = excluded.start_date,
       term_months = excluded.term_months, annual_rate_bp = excluded.annual_rate_bp,
       penalty_rate_bp = excluded.penalty_rate_bp, grace_days = excluded.grace_days, timezone = excluded.timezone`,
    [
      c.id,
      c.number,
      c.kind,
      c.dealer?.id ?? null,
      cu.id,
      c.machineId,
      c.currency,
      c.principal,
      c.downPayment,
      c.startDate,
      c.termMonths,
      c.annualRateBp,
      c.penaltyRateBp,
      c.graceDays,
      c.timeZone,
    ],
  );
  await tx.query('delete from guarantor where contract_id = $1', [c.id]);
  const g = c.guarantors;
  await tx.query(
    `insert into guarantor (contract_id, name, phone, relation)
     select $1, * from unnest($2::text[], $3::text[], $4::text[])`,
    [c.id, g.map((x) => x.name), g.map((x) => x.phone), g.map((x) => x.relation)],
  );
  await tx.query('delete from instalment where contract_id = $1', [c.id]);
  const i = c.instalments;
  await tx.query(
    `insert into instalment (contract_id, seq, due_date, principal, interest, fees)
     select $1, * from unnest($2::int[], $3::date[], $4::bigint[], $5::bigint[], $6::bigint[])`,
    [
      c.id,
      i.map((x) => x.seq),
      i.map((x) => x.dueDate),
      i.map((x) => x.principal),
      i.map((x) => x.interest),
      i.map((x) => x.fees),
    ],
  );
  await insertPayments(tx, c.id, c.payments, source);
  return refreshAccount(tx, c.id, asOf, 'contract saved');
}

/** Who booked payments and how: a person by hand, or a bank file (its sha256). */
export interface Booking {
  bookedBy: string;
  importSha256?: string | undefined;
}

/** Adds payments, skipping references already recorded; returns the references that were new. */
export async function insertPayments(
  tx: Sql,
  contractId: string,
  payments: readonly Payment[],
  source: string,
  booking: Booking = { bookedBy: 'system' },
): Promise<string[]> {
  if (payments.length === 0) return [];
  const { rows } = await tx.query<{ reference: string }>(
    `insert into payment (contract_id, paid_on, amount, reference, source, booked_by, import_sha256)
     select $1, *, $5, $6, $7 from unnest($2::date[], $3::bigint[], $4::text[])
     on conflict (contract_id, reference) do nothing
     returning reference`,
    [
      contractId,
      payments.map((x) => x.date),
      payments.map((x) => x.amount),
      payments.map((x) => x.reference),
      source,
      booking.bookedBy,
      booking.importSha256 ?? null,
    ],
  );
  return rows.map((r) => r.reference);
}

/** Holds payments back until a second person confirms them (they do not count meanwhile). */
export async function holdForConfirmation(tx: Sql, contractId: string, references: string[]): Promise<void> {
  await tx.query(
    'update payment set needs_confirmation = true where contract_id = $1 and reference = any($2::text[])',
    [contractId, references],
  );
}

export async function releaseHold(tx: Sql, contractId: string, references: string[]): Promise<void> {
  await tx.query(
    'update payment set needs_confirmation = false where contract_id = $1 and reference = any($2::text[])',
    [contractId, references],
  );
}

export interface PaymentRecord {
  reference: string;
  amount: number;
  bookedBy: string;
  needsConfirmation: boolean;
  confirmedBy: string | null;
  reversedAt: string | null;
}

export async function findPayment(
  tx: Sql,
  contractId: string,
  reference: string,
): Promise<PaymentRecord | null> {
  const { rows } = await tx.query<{
    reference: string;
    amount: string | number;
    booked_by: string;
    needs_confirmation: boolean;
    confirmed_by: string | null;
    reversed_at: Date | null;
  }>(
    `select reference, amount, booked_by, needs_confirmation, confirmed_by, reversed_at from payment
     where contract_id = $1 and reference = $2 for update`,
    [contractId, reference],
  );
  const r = rows[0];
  return r
    ? {
        reference: r.reference,
        amount: Number(r.amount),
        bookedBy: r.booked_by,
        needsConfirmation: r.needs_confirmation,
        confirmedBy: r.confirmed_by,
        reversedAt: r.reversed_at === null ? null : new Date(r.reversed_at).toISOString(),
      }
    : null;
}

export async function markConfirmed(tx: Sql, contractId: string, reference: string, by: string, at: number) {
  await tx.query(
    'update payment set confirmed_by = $3, confirmed_at = $4 where contract_id = $1 and reference = $2',
    [contractId, reference, by, new Date(at).toISOString()],
  );
}

export async function markReversed(
  tx: Sql,
  contractId: string,
  reference: string,
  by: string,
  reason: string,
  at: number,
) {
  await tx.query(
    `update payment set reversed_by = $3, reversal_reason = $4, reversed_at = $5
     where contract_id = $1 and reference = $2`,
    [contractId, reference, by, reason, new Date(at).toISOString()],
  );
}

interface TermsRow {
  number: string;
  machine_id: string;
  grace_days: number;
  penalty_rate_bp: number;
  timezone: string;
  stage: number;
  stage_as_of: string | null;
}

/** Everything the account assessment needs, read inside the caller's transaction. */
export async function loadAccountInputs(tx: Sql, contractId: string, lock = false) {
  const { rows: terms } = await tx.query<TermsRow>(
    `select number, machine_id, grace_days, penalty_rate_bp, timezone, stage, stage_as_of::text
     from contract where id = $1 ${lock ? 'for update' : ''}`,
    [contractId],
  );
  const contract = terms[0];
  if (!contract) return null;
  const { rows: instalments } = await tx.query<Instalment>(
    `select seq, due_date::text as "dueDate", principal::float8 as principal, interest::float8 as interest,
            fees::float8 as fees
     from instalment where contract_id = $1 order by seq`,
    [contractId],
  );
  const { rows: payments } = await tx.query<Payment>(
    // What counts: not reversed, and confirmed where a second person's confirmation is needed.
    `select paid_on::text as date, amount::float8 as amount, reference from payment
     where contract_id = $1 and reversed_at is null and (not needs_confirmation or confirmed_at is not null)
     order by paid_on, id`,
    [contractId],
  );
  const activities = await loadActivities(tx, contractId, contract.timezone);
  return {
    contract,
    inputs: {
      instalments,
      payments,
      activities,
      graceDays: contract.grace_days,
      penaltyRateBp: contract.penalty_rate_bp,
    },
  };
}

interface ActivityRow {
  id: string;
  kind: Activity['kind'];
  actor: string;
  occurred_at: Date | string;
  recorded_at: Date | string;
  channel: Activity['channel'];
  outcome: string | null;
  body: string;
  promised_date: string | null;
  promised_amount: string | number | null;
  dispute_category: Activity['disputeCategory'];
  corrects_id: string | null;
  resolves_id: string | null;
}

export async function loadActivities(tx: Sql, contractId: string, timeZone: string): Promise<Activity[]> {
  const { rows } = await tx.query<ActivityRow>(
    `select id, kind, actor, occurred_at, recorded_at, channel, outcome, body, promised_date::text, promised_amount,
            dispute_category, corrects_id, resolves_id
     from activity where contract_id = $1 order by occurred_at, id`,
    [contractId],
  );
  return rows.map((r) => {
    const at = new Date(r.occurred_at);
    return {
      id: Number(r.id),
      kind: r.kind,
      actor: r.actor,
      occurredAt: at.toISOString(),
      recordedAt: new Date(r.recorded_at).toISOString(),
      occurredOn: localDate(at.getTime(), timeZone),
      channel: r.channel,
      outcome: r.outcome,
      body: r.body,
      promisedDate: r.promised_date,
      promisedAmount: r.promised_amount === null ? null : Number(r.promised_amount),
      disputeCategory: r.dispute_category,
      correctsId: r.corrects_id === null ? null : Number(r.corrects_id),
      resolvesId: r.resolves_id === null ? null : Number(r.resolves_id),
    };
  });
}

/**
 * Recomputes one account from its stored schedule, payments and records as of a date; stores the
 * figures and records a change of stage. Returns the change, or null when the stage stayed.
 */
export async function refreshAccount(
  tx: Sql,
  contractId: string,
  asOf: IsoDate,
  reason: string,
  /** The platform's clock, stamped on a change of stage (the GPS-stop policy reads cures from it). */
  now: number = Date.now(),
): Promise<StageChange | null> {
  const loaded = await loadAccountInputs(tx, contractId, true);
  if (!loaded) throw new Error(`no contract ${contractId}`);
  const { contract, inputs } = loaded;
  const a = assessAccount(inputs, asOf);
  const o = a.overdue;
  await tx.query(
    `update contract set stage = $2, stage_as_of = $3, status = $4, overdue_instalments = $5, overdue_amount = $6,
       days_past_due = $7, penalty = $8, next_action = $9
     where id = $1`,
    [
      contractId,
      o.stage,
      asOf,
      o.settled ? 'settled' : 'active',
      o.overdueInstalments,
      o.overdueAmount,
      o.daysPastDue,
      o.penaltyAccrued,
      a.nextAction.code,
    ],
  );
  const first = contract.stage_as_of === null;
  if (!first && contract.stage === o.stage) return null;
  const from = first ? null : contract.stage;
  const { rows } = await tx.query<{ changed_at: Date | string }>(
    `insert into stage_change (contract_id, from_stage, to_stage, reason, changed_at) values ($1, $2, $3, $4, $5)
     returning changed_at`,
    [contractId, from, o.stage, reason, new Date(now).toISOString()],
  );
  return {
    contractId,
    contractNumber: contract.number,
    machineId: contract.machine_id,
    from,
    to: o.stage,
    at: new Date(rows[0]?.changed_at ?? Date.now()).toISOString(),
    reason,
  };
}
