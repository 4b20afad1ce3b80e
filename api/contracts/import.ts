/**
 * CSV imports from the lender's systems: contracts (one row per contract, the schedule generated
 * from its terms) and payments. Each row is checked on its own and saved under its own savepoint,
 * so a bad row is reported with its row number and reason and changes nothing, while the good
 * rows are stored. The columns are documented in docs/contracts.md.
 */

import { parse } from 'csv-parse/sync';
import type { Database, Sql } from '../../db/client.ts';
import { PaymentSchema } from '../../shared/api/contracts.ts';
import { InvalidInputError } from '../../shared/errors.ts';
import type { StageChange } from '../../shared/live.ts';
import { parseYuan } from '../../shared/money.ts';
import { contractInScope, EVERYTHING, type Viewer } from '../auth/scope.ts';
import { type ContractInput, ContractInputSchema } from './schemas.ts';
import { addPayments, upsertContract } from './service.ts';
import type { Booking } from './store.ts';

export const CONTRACT_COLUMNS = {
  required: ['number', 'kind', 'principal', 'start_date', 'term_months', 'customer_name'],
  optional: [
    'currency',
    'down_payment',
    'annual_rate_bp',
    'penalty_rate_bp',
    'grace_days',
    'timezone',
    'first_due_date',
    'monthly_fee',
    'customer_id',
    'customer_phone',
    'customer_national_id',
    'customer_home_address',
    'job_site_address',
    'guarantor_name',
    'guarantor_phone',
    'guarantor_relation',
    'dealer_id',
    'dealer_name',
    'dealer_province',
    'machine_id',
    'machine_serial',
  ],
} as const;

export const PAYMENT_COLUMNS = {
  required: ['contract_number', 'date', 'amount', 'reference'],
  optional: [],
} as const;

export interface RowReport {
  /** 1-based data row (the header is not counted); `line` is the line in the file. */
  row: number;
  line: number;
  number: string | null;
  reason?: string;
  contractId?: string;
  created?: boolean;
}

export interface ImportReport {
  accepted: RowReport[];
  rejected: RowReport[];
  stageChanges: StageChange[];
}

interface CsvRow {
  row: number;
  line: number;
  record: Record<string, string>;
}

function readCsv(
  text: string,
  columns: { required: readonly string[]; optional: readonly string[] },
): CsvRow[] {
  let parsed: { record: Record<string, string>; info: { lines: number } }[];
  try {
    parsed = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true, info: true });
  } catch (e) {
    throw new InvalidInputError(`not readable as CSV: ${(e as Error).message}`);
  }
  const header = parse(text, { to_line: 1, bom: true, trim: true })[0] as string[] | undefined;
  if (!header) throw new InvalidInputError('empty file: expected a header line');
  const missing = columns.required.filter((c) => !header.includes(c));
  const known = new Set<string>([...columns.required, ...columns.optional]);
  const unknown = header.filter((c) => !known.has(c));
  if (missing.length > 0 || unknown.length > 0) {
    const parts = [
      missing.length > 0 ? `missing columns: ${missing.join(', ')}` : '',
      unknown.length > 0 ? `unknown columns: ${unknown.join(', ')}` : '',
    ];
    throw new InvalidInputError(parts.filter(Boolean).join('; '));
  }
  return parsed.map((p, i) => ({ row: i + 1, line: p.info.lines, record: p.record }));
}

const blank = (v: string | undefined) => v === undefined || v === '';
const opt = (v: string | undefined) => (blank(v) ? undefined : v);

function integer(v: string | undefined, column: string): number | undefined {
  if (blank(v)) return undefined;
  if (!/^-?\d+$/.test(v as string)) throw new RangeError(`${column}: not a whole number: '${v}'`);
  return Number(v);
}

function yuan(v: string | undefined, column: string): number | undefined {
  if (blank(v)) return undefined;
  try {
    return parseYuan(v as string);
  } catch {
    throw new RangeError(`${column}: not an amount in yuan: '${v}'`);
  }
}

/** One CSV row as the JSON the contract API takes, validated; a reason when it is not valid. */
export function contractFromRow(r: Record<string, string>): { input: ContractInput } | { reason: string } {
  let candidate: unknown;
  try {
    candidate = {
      number: r.number,
      kind: r.kind,
      currency: opt(r.currency),
      principal: yuan(r.principal, 'principal'),
      downPayment: yuan(r.down_payment, 'down_payment'),
      startDate: r.start_date,
      termMonths: integer(r.term_months, 'term_months'),
      annualRateBp: integer(r.annual_rate_bp, 'annual_rate_bp'),
      penaltyRateBp: integer(r.penalty_rate_bp, 'penalty_rate_bp'),
      graceDays: integer(r.grace_days, 'grace_days'),
      timezone: opt(r.timezone),
      firstDueDate: opt(r.first_due_date),
      monthlyFee: yuan(r.monthly_fee, 'monthly_fee'),
      customer: {
        id: opt(r.customer_id),
        name: r.customer_name,
        phone: opt(r.customer_phone),
        nationalId: opt(r.customer_national_id),
        homeAddress: opt(r.customer_home_address),
        addresses: [
          ...(blank(r.customer_home_address) ? [] : [{ kind: 'home', address: r.customer_home_address }]),
          ...(blank(r.job_site_address) ? [] : [{ kind: 'job_site', address: r.job_site_address }]),
        ],
      },
      guarantors: blank(r.guarantor_name)
        ? []
        : [{ name: r.guarantor_name, phone: opt(r.guarantor_phone), relation: opt(r.guarantor_relation) }],
      dealer: blank(r.dealer_id)
        ? undefined
        : { id: r.dealer_id, name: opt(r.dealer_name) ?? r.dealer_id, province: opt(r.dealer_province) },
      machineId: opt(r.machine_id),
      machineSerial: opt(r.machine_serial),
    };
  } catch (e) {
    return { reason: (e as Error).message };
  }
  const checked = ContractInputSchema.safeParse(candidate);
  if (!checked.success) {
    return {
      reason: checked.error.issues.map((i) => `${i.path.join('.') || 'row'}: ${i.message}`).join('; '),
    };
  }
  return { input: checked.data };
}

/** Runs `fn` under a savepoint: on failure the row's writes are undone and the reason returned. */
async function underSavepoint<T>(tx: Sql, fn: () => Promise<T>): Promise<{ ok: T } | { reason: string }> {
  await tx.exec('savepoint import_row');
  try {
    const ok = await fn();
    await tx.exec('release savepoint import_row');
    return { ok };
  } catch (e) {
    await tx.exec('rollback to savepoint import_row');
    return { reason: (e as Error).message };
  }
}

export async function importContracts(db: Database, csv: string, now: number): Promise<ImportReport> {
  const rows = readCsv(csv, CONTRACT_COLUMNS);
  const report: ImportReport = { accepted: [], rejected: [], stageChanges: [] };
  const firstRowOf = new Map<string, number>();
  await db.transaction(async (tx) => {
    for (const { row, line, record } of rows) {
      const number = opt(record.number) ?? null;
      const parsed = contractFromRow(record);
      if ('reason' in parsed) {
        report.rejected.push({ row, line, number, reason: parsed.reason });
        continue;
      }
      const earlier = firstRowOf.get(parsed.input.number);
      if (earlier !== undefined) {
        report.rejected.push({
          row,
          line,
          number,
          reason: `contract ${parsed.input.number} is already on row ${earlier}`,
        });
        continue;
      }
      firstRowOf.set(parsed.input.number, row);
      const saved = await underSavepoint(tx, () => upsertContract(tx, parsed.input, now, 'import'));
      if ('reason' in saved) {
        report.rejected.push({ row, line, number, reason: saved.reason });
        continue;
      }
      report.accepted.push({ row, line, number, contractId: saved.ok.id, created: saved.ok.created });
      if (saved.ok.stageChange) report.stageChanges.push(saved.ok.stageChange);
    }
  });
  return report;
}

/** A bank file's payments; each counts at once and keeps the file's sha256 and who imported it. */
export async function importPayments(
  db: Database,
  csv: string,
  now: number,
  booking: Booking = { bookedBy: 'system' },
  viewer: Viewer = EVERYTHING,
): Promise<ImportReport> {
  const rows = readCsv(csv, PAYMENT_COLUMNS);
  const report: ImportReport = { accepted: [], rejected: [], stageChanges: [] };
  await db.transaction(async (tx) => {
    for (const { row, line, record } of rows) {
      const number = opt(record.contract_number) ?? null;
      let amount: number | undefined;
      try {
        amount = yuan(record.amount, 'amount');
      } catch (e) {
        report.rejected.push({ row, line, number, reason: (e as Error).message });
        continue;
      }
      const payment = PaymentSchema.safeParse({ date: record.date, amount, reference: record.reference });
      if (!payment.success) {
        const reason = payment.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
        report.rejected.push({ row, line, number, reason });
        continue;
      }
      // A contract outside the booker's scope is as unknown as one that does not exist.
      const params: unknown[] = [number];
      const { rows: found } = await tx.query<{ id: string }>(
        `select c.id from contract c where c.number = $1 and ${contractInScope(viewer, 'c', params)}`,
        params,
      );
      const contractId = found[0]?.id;
      if (!contractId) {
        report.rejected.push({ row, line, number, reason: `no contract ${number}` });
        continue;
      }
      const saved = await underSavepoint(tx, () =>
        addPayments(tx, contractId, [payment.data], now, 'import', booking),
      );
      if ('reason' in saved) {
        report.rejected.push({ row, line, number, reason: saved.reason });
        continue;
      }
      const duplicate = saved.ok.added.length === 0;
      report.accepted.push({
        row,
        line,
        number,
        contractId,
        created: !duplicate,
        ...(duplicate ? { reason: `payment ${payment.data.reference} already recorded` } : {}),
      });
      if (saved.ok.stageChange) report.stageChanges.push(saved.ok.stageChange);
    }
  });
  return report;
}
