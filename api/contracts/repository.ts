/**
 * Writes contracts with their schedule and payments, and keeps the cached stage in step with the
 * overdue engine: the stage stored is always what assessOverdue makes of the stored instalments and
 * payments as of a date, and every change of it is recorded in stage_change.
 */
import type { Database, Sql } from '../../db/client.ts';
import type { IsoDate } from '../../shared/calendar-date.ts';
import type { Fen } from '../../shared/money.ts';
import { assessOverdue, type Instalment, type Payment } from '../../shared/overdue.ts';

export interface ContractRecord {
  id: string;
  number: string;
  machineId: string;
  kind: 'loan' | 'finance_lease' | 'instalment_sale';
  currency: string;
  customer: { id: string; name: string; phone: string; nationalId: string; homeAddress: string };
  guarantor: { name: string; phone: string; relation: string };
  dealer: { id: string; name: string; province: string };
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

/**
 * Upserts by contract id. The schedule is replaced by the record's (a restructured contract gets a
 * new one); payments are added, idempotent by their reference, and never deleted.
 */
export async function saveContracts(db: Database, contracts: ContractRecord[], asOf: IsoDate): Promise<void> {
  await db.transaction(async (tx) => {
    for (const c of contracts) await saveContract(tx, c, asOf);
  });
}

async function saveContract(tx: Sql, c: ContractRecord, asOf: IsoDate): Promise<void> {
  await tx.query(
    `insert into dealer (id, name, province) values ($1, $2, $3)
     on conflict (id) do update set name = excluded.name, province = excluded.province`,
    [c.dealer.id, c.dealer.name, c.dealer.province],
  );
  await tx.query(
    `insert into customer (id, name, phone, national_id, home_address) values ($1, $2, $3, $4, $5)
     on conflict (id) do update set name = excluded.name, phone = excluded.phone,
       national_id = excluded.national_id, home_address = excluded.home_address`,
    [c.customer.id, c.customer.name, c.customer.phone, c.customer.nationalId, c.customer.homeAddress],
  );
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
      c.dealer.id,
      c.customer.id,
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
  await tx.query('insert into guarantor (contract_id, name, phone, relation) values ($1, $2, $3, $4)', [
    c.id,
    c.guarantor.name,
    c.guarantor.phone,
    c.guarantor.relation,
  ]);
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
  const p = c.payments;
  if (p.length > 0) {
    await tx.query(
      `insert into payment (contract_id, paid_on, amount, reference)
       select $1, * from unnest($2::date[], $3::bigint[], $4::text[])
       on conflict (contract_id, reference) do nothing`,
      [c.id, p.map((x) => x.date), p.map((x) => x.amount), p.map((x) => x.reference)],
    );
  }
  await refreshStage(tx, c.id, asOf, 'contract saved');
}

/** Recomputes one contract's stage from its stored schedule and payments; records a change. */
export async function refreshStage(
  tx: Sql,
  contractId: string,
  asOf: IsoDate,
  reason: string,
): Promise<number> {
  const { rows: terms } = await tx.query<{
    grace_days: number;
    penalty_rate_bp: number;
    stage: number;
    stage_as_of: string | null;
  }>('select grace_days, penalty_rate_bp, stage, stage_as_of::text from contract where id = $1 for update', [
    contractId,
  ]);
  const contract = terms[0];
  if (!contract) throw new Error(`no contract ${contractId}`);
  const { rows: instalments } = await tx.query<Instalment>(
    `select seq, due_date::text as "dueDate", principal, interest, fees from instalment where contract_id = $1 order by seq`,
    [contractId],
  );
  const { rows: payments } = await tx.query<Payment>(
    `select paid_on::text as date, amount, reference from payment where contract_id = $1 order by paid_on, id`,
    [contractId],
  );
  const assessment = assessOverdue({
    instalments,
    payments,
    asOf,
    graceDays: contract.grace_days,
    penaltyRateBp: contract.penalty_rate_bp,
  });
  const status = assessment.settled ? 'settled' : 'active';
  await tx.query('update contract set stage = $2, stage_as_of = $3, status = $4 where id = $1', [
    contractId,
    assessment.stage,
    asOf,
    status,
  ]);
  const first = contract.stage_as_of === null;
  if (first || contract.stage !== assessment.stage) {
    await tx.query(
      'insert into stage_change (contract_id, from_stage, to_stage, reason) values ($1, $2, $3, $4)',
      [contractId, first ? null : contract.stage, assessment.stage, reason],
    );
  }
  return assessment.stage;
}
