/**
 * Reads the worked examples out of docs/overdue.md so the page and the tests cannot drift apart:
 * every `### ` section is one example, and its markdown tables are its input and expected results.
 */
import { readFileSync } from 'node:fs';
import { parseYuan } from '../../shared/money.ts';
import type { Instalment, Payment } from '../../shared/overdue.ts';

export interface DocTable {
  headers: string[];
  rows: Array<Record<string, string>>;
}

export interface DocSection {
  title: string;
  tables: DocTable[];
}

export function readOverdueDoc(): string {
  return readFileSync(new URL('../../docs/overdue.md', import.meta.url), 'utf8');
}

const cells = (line: string) =>
  line
    .trim()
    .replace(/^\||\|$/g, '')
    .split('|')
    .map((c) => c.trim());

function parseTables(lines: string[]): DocTable[] {
  const tables: DocTable[] = [];
  let block: string[] = [];
  const flush = () => {
    if (block.length >= 2) {
      const headers = cells(block[0]!);
      const rows = block
        .slice(2)
        .map((line) => Object.fromEntries(cells(line).map((value, i) => [headers[i] ?? `#${i}`, value])));
      tables.push({ headers, rows });
    }
    block = [];
  };
  for (const line of lines) {
    if (line.trim().startsWith('|')) block.push(line);
    else flush();
  }
  flush();
  return tables;
}

/** The `### ` sections under the `## ` heading `parent`, in page order. */
export function docSections(markdown: string, parent: string): DocSection[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === `## ${parent}`);
  if (start < 0) throw new Error(`docs/overdue.md has no '## ${parent}' section`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const body = lines.slice(start + 1, end < 0 ? undefined : end);
  const sections: DocSection[] = [];
  let current: { title: string; lines: string[] } | null = null;
  const close = () => current && sections.push({ title: current.title, tables: parseTables(current.lines) });
  for (const line of body) {
    if (line.startsWith('### ')) {
      close();
      current = { title: line.slice(4).trim(), lines: [] };
    } else current?.lines.push(line);
  }
  close();
  return sections;
}

/** The table whose first column header is `firstHeader`, or undefined. */
export function tableOf(section: DocSection, firstHeader: string): DocTable | undefined {
  return section.tables.find((t) => t.headers[0] === firstHeader);
}

export function field(row: Record<string, string>, name: string): string {
  const value = row[name];
  if (value === undefined) throw new Error(`table row has no '${name}' column`);
  return value;
}

export const yuan = (row: Record<string, string>, name: string) => parseYuan(field(row, name));
export const whole = (row: Record<string, string>, name: string) => {
  const text = field(row, name);
  if (!/^\d+$/.test(text)) throw new Error(`'${name}' is not a whole number: '${text}'`);
  return Number(text);
};

export function instalmentsOf(table: DocTable): Instalment[] {
  return table.rows.map((r) => ({
    seq: whole(r, 'seq'),
    dueDate: field(r, 'due date'),
    principal: yuan(r, 'principal'),
    interest: yuan(r, 'interest'),
    fees: yuan(r, 'fees'),
  }));
}

export function paymentsOf(table: DocTable | undefined): Payment[] {
  return (table?.rows ?? []).map((r) => ({
    date: field(r, 'date'),
    amount: yuan(r, 'amount'),
    reference: field(r, 'reference'),
  }));
}
