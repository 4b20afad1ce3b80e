/** Reads for the contract API: a contract's case file and the accounts list. */
import type { Sql } from '../../db/client.ts';
import { assessAccount } from '../../shared/account.ts';
import type { ContractView } from '../../shared/api/contracts.ts';
import { localDate } from '../../shared/calendar-date.ts';
import { standingRecords } from '../../shared/collections.ts';
import { masked, maskNationalId, maskPhone, seesPhones } from '../../shared/scope.ts';
import { contractInScope, type Viewer } from '../auth/scope.ts';
import type { AccountsQuery } from './schemas.ts';
import { loadAccountInputs } from './store.ts';

const iso = (v: Date | string) => new Date(v).toISOString();
const num = (v: number | string | null | undefined) => (v === null || v === undefined ? null : Number(v));

/**
 * The contract with its parties, machine, installation history and account as of now; null when it
 * does not exist or is outside the viewer's scope. Phones are masked for roles that do not call
 * customers, the national id for everyone (a reveal shows it, api/contracts/reveal.ts).
 */
export async function getContractView(
  sql: Sql,
  id: string,
  now: number,
  viewer: Viewer,
): Promise<ContractView | null> {
  const params: unknown[] = [id];
  const inScope = contractInScope(viewer, 'c', params);
  const { rows } = await sql.query<Record<string, never>>(
    `select c.id, c.number, c.kind, c.status, c.currency, c.principal, c.down_payment, c.start_date::text,
            c.term_months, c.annual_rate_bp, c.penalty_rate_bp, c.grace_days, c.timezone,
            cu.id as customer_id, cu.name as customer_name, cu.phone as customer_phone,
            cu.national_id as customer_national_id, cu.home_address as customer_home_address,
            d.id as dealer_id, d.name as dealer_name, d.province as dealer_province,
            m.id as machine_id, m.make, m.model, m.type, m.serial, m.year
     from contract c
     join customer cu on cu.id = c.customer_id
     join machine m on m.id = c.machine_id
     left join dealer d on d.id = c.dealer_id
     where c.id = $1 and ${inScope}`,
    params,
  );
  const c = rows[0] as Record<string, string | number | null> | undefined;
  if (!c) return null;
  const loaded = await loadAccountInputs(sql, id);
  if (!loaded) return null;
  const asOf = localDate(now, String(c.timezone));
  const account = assessAccount(loaded.inputs, asOf);
  const o = account.overdue;
  const fullPhones = seesPhones(viewer.roles);
  const phone = (v: string | null) => masked(v, maskPhone, fullPhones);
  const [addresses, guarantors, installations, payments, history] = await Promise.all([
    sql.query<{ kind: 'home'; address: string; lat: number | null; lon: number | null }>(
      'select kind, address, lat, lon from customer_address where customer_id = $1 order by id',
      [c.customer_id],
    ),
    sql.query<{ name: string; phone: string | null; relation: string | null }>(
      'select name, phone, relation from guarantor where contract_id = $1 order by id',
      [id],
    ),
    sql.query<{ device_id: string; installed_at: Date; removed_at: Date | null }>(
      'select device_id, installed_at, removed_at from installation where machine_id = $1 order by installed_at',
      [c.machine_id],
    ),
    sql.query<{
      date: string;
      amount: number;
      reference: string;
      source: string;
      bookedBy: string;
      awaitingConfirmation: boolean;
      confirmedBy: string | null;
      confirmedAt: Date | null;
      reversedBy: string | null;
      reversedAt: Date | null;
    }>(
      `select paid_on::text as date, amount::float8 as amount, reference, source, booked_by as "bookedBy",
              (needs_confirmation and confirmed_at is null and reversed_at is null) as "awaitingConfirmation",
              confirmed_by as "confirmedBy", confirmed_at as "confirmedAt", reversed_by as "reversedBy",
              reversed_at as "reversedAt"
       from payment where contract_id = $1 order by paid_on, id`,
      [id],
    ),
    sql.query<{ from_stage: number | null; to_stage: number; changed_at: Date; reason: string }>(
      'select from_stage, to_stage, changed_at, reason from stage_change where contract_id = $1 order by changed_at, id',
      [id],
    ),
  ]);
  return {
    id: String(c.id),
    number: String(c.number),
    kind: String(c.kind),
    status: String(c.status),
    currency: String(c.currency),
    principal: Number(c.principal),
    downPayment: Number(c.down_payment),
    startDate: String(c.start_date),
    termMonths: Number(c.term_months),
    annualRateBp: Number(c.annual_rate_bp),
    penaltyRateBp: Number(c.penalty_rate_bp),
    graceDays: Number(c.grace_days),
    timezone: String(c.timezone),
    customer: {
      id: String(c.customer_id),
      name: String(c.customer_name),
      phone: phone(c.customer_phone === null ? null : String(c.customer_phone)),
      nationalId: masked(
        c.customer_national_id === null ? null : String(c.customer_national_id),
        maskNationalId,
        false,
      ),
      homeAddress: c.customer_home_address === null ? null : String(c.customer_home_address),
      addresses: addresses.rows,
    },
    guarantors: guarantors.rows.map((g) => ({ ...g, phone: phone(g.phone) })),
    dealer:
      c.dealer_id === null
        ? null
        : {
            id: String(c.dealer_id),
            name: String(c.dealer_name),
            province: (c.dealer_province as string) ?? null,
          },
    machine: {
      id: String(c.machine_id),
      make: String(c.make),
      model: String(c.model),
      type: String(c.type),
      serial: String(c.serial),
      year: num(c.year),
    },
    installations: installations.rows.map((r) => ({
      deviceId: r.device_id,
      installedAt: iso(r.installed_at),
      removedAt: r.removed_at === null ? null : iso(r.removed_at),
    })),
    overdue: {
      asOf: o.asOf,
      stage: o.stage,
      overdueInstalments: o.overdueInstalments,
      overdueAmount: o.overdueAmount,
      daysPastDue: o.daysPastDue,
      penalty: o.penaltyAccrued,
      dueUnpaid: o.dueUnpaid,
      totalOutstanding: o.totalOutstanding,
      totalPaid: o.totalPaid,
      settled: o.settled,
    },
    instalments: o.instalments.map(({ penaltyFenDays: _, ...i }) => i),
    payments: payments.rows.map((p) => ({
      ...p,
      amount: Number(p.amount),
      confirmedAt: p.confirmedAt === null ? null : new Date(p.confirmedAt).toISOString(),
      reversedAt: p.reversedAt === null ? null : new Date(p.reversedAt).toISOString(),
    })),
    promises: account.promises,
    openDisputes: account.openDisputes.length,
    nextAction: account.nextAction,
    stageHistory: history.rows.map((h) => ({
      from: h.from_stage === null ? null : Number(h.from_stage),
      to: Number(h.to_stage),
      at: iso(h.changed_at),
      reason: h.reason,
    })),
    masked: {
      phone: !fullPhones && (c.customer_phone !== null || guarantors.rows.some((g) => g.phone !== null)),
      nationalId: c.customer_national_id !== null,
    },
  };
}

/** The collection records of a contract, oldest first, with what became of each; null outside the scope. */
export async function listActivities(sql: Sql, id: string, now: number, viewer: Viewer) {
  const params: unknown[] = [id];
  const { rows: visible } = await sql.query(
    `select 1 from contract c where c.id = $1 and ${contractInScope(viewer, 'c', params)}`,
    params,
  );
  if (visible.length === 0) return null;
  const loaded = await loadAccountInputs(sql, id);
  if (!loaded) return null;
  const { activities } = loaded.inputs;
  const asOf = localDate(now, loaded.contract.timezone);
  const account = assessAccount(loaded.inputs, asOf);
  const standing = new Set(standingRecords(activities).map((a) => a.id));
  const promise = new Map(account.promises.map((p) => [p.activityId, p.status]));
  return activities.map(({ occurredOn: _, ...a }) => ({
    ...a,
    superseded: !standing.has(a.id),
    promiseStatus: promise.get(a.id) ?? null,
  }));
}

const SORT_COLUMNS: Record<AccountsQuery['sort'], string> = {
  daysPastDue: 'c.days_past_due',
  overdueAmount: 'c.overdue_amount',
  stage: 'c.stage',
  number: 'c.number',
  penalty: 'c.penalty',
};

/** Active accounts in the viewer's scope with their cached figures (as of stage_as_of), filtered, sorted and paged. */
export async function listAccounts(sql: Sql, q: AccountsQuery, viewer: Viewer) {
  const where = ["c.status = 'active'"];
  const params: unknown[] = [];
  where.push(contractInScope(viewer, 'c', params));
  if (q.stage !== undefined) where.push(`c.stage = $${params.push(q.stage)}`);
  if (q.minStage !== undefined) where.push(`c.stage >= $${params.push(q.minStage)}`);
  const filter = where.join(' and ');
  // The sort column comes from a fixed map, never from the request text; ties break by number.
  const order = `${SORT_COLUMNS[q.sort]} ${q.order}, c.number asc`;
  const { rows: count } = await sql.query<{ n: number }>(
    `select count(*)::int as n from contract c where ${filter}`,
    params,
  );
  const { rows } = await sql.query<Record<string, string | number | null>>(
    `select c.id, c.number, cu.name as customer, cu.phone, d.name as dealer, c.machine_id, i.device_id, c.stage,
            c.overdue_instalments, c.overdue_amount::float8 as overdue_amount, c.days_past_due,
            c.penalty::float8 as penalty, c.next_action, c.stage_as_of::text
     from contract c
     join customer cu on cu.id = c.customer_id
     left join dealer d on d.id = c.dealer_id
     left join installation i on i.machine_id = c.machine_id and i.removed_at is null
     where ${filter}
     order by ${order}
     limit $${params.push(q.pageSize)} offset $${params.push((q.page - 1) * q.pageSize)}`,
    params,
  );
  const fullPhones = seesPhones(viewer.roles);
  return {
    total: count[0]?.n ?? 0,
    page: q.page,
    pageSize: q.pageSize,
    items: rows.map((r) => ({
      contractId: String(r.id),
      number: String(r.number),
      customer: String(r.customer),
      phone: masked((r.phone as string | null) ?? null, maskPhone, fullPhones),
      dealer: (r.dealer as string | null) ?? null,
      machineId: String(r.machine_id),
      deviceId: (r.device_id as string | null) ?? null,
      stage: Number(r.stage),
      overdueInstalments: Number(r.overdue_instalments),
      overdueAmount: Number(r.overdue_amount),
      daysPastDue: Number(r.days_past_due),
      penalty: Number(r.penalty),
      nextAction: String(r.next_action),
      asOf: (r.stage_as_of as string | null) ?? null,
    })),
  };
}
