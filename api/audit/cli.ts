/**
 * Verifying the audit chain from a shell (docs/security.md, "Audit chain"):
 *
 *   npm run audit:verify                          checks every entry from the first
 *   npm run audit:verify -- --print-head          prints "<seq> <hash>" of the last entry, to keep elsewhere
 *   npm run audit:verify -- --anchor <seq>:<hash> also checks that entry against a kept head
 *
 * Uses DATABASE_URL, or else the embedded database under DATA_DIR (default ./data) — only while
 * the platform is stopped: the embedded engine is one process's. Reads only; applies no migrations.
 * Exit 0 when the chain holds, 1 when it is broken (naming the first broken entry) or an anchor
 * does not match, 2 for a bad command line, 3 when it could not be checked at all.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../db/client.ts';
import { parseConfig } from '../../shared/config.ts';
import { verifyAuditChain } from './log.ts';

const USAGE = `usage: npm run audit:verify [-- --print-head] [-- --anchor <seq>:<hash>]
uses DATABASE_URL, or the embedded database under DATA_DIR (stop the platform first)`;

class UsageError extends Error {}
class Broken extends Error {}

function parse(argv: string[]) {
  try {
    const { values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        'print-head': { type: 'boolean' },
        anchor: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    let anchor: { seq: number; hash: string } | null = null;
    if (values.anchor !== undefined) {
      const m = /^(\d+):([0-9a-f]{64})$/.exec(values.anchor.trim());
      if (!m) throw new UsageError('--anchor must be <seq>:<64 hex digits>, as --print-head prints it');
      anchor = { seq: Number(m[1]), hash: m[2]! };
    }
    return { printHead: values['print-head'] === true, anchor, help: values.help === true };
  } catch (e) {
    throw e instanceof UsageError ? e : new UsageError((e as Error).message);
  }
}

async function run(argv: string[]): Promise<void> {
  const options = parse(argv);
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const parsed = parseConfig(process.env);
  if (!parsed.ok) throw new UsageError(`invalid configuration:\n  ${parsed.errors.join('\n  ')}`);
  const url = parsed.config.DATABASE_URL;
  const dataDir = join(parsed.config.DATA_DIR, 'pgdata');
  if (!url && !existsSync(dataDir)) {
    throw new Error(`no database: DATABASE_URL is not set and there is no embedded database in ${dataDir}`);
  }
  const db = await openDatabase({ url, dataDir });
  try {
    const report = await verifyAuditChain(db).catch((e: { code?: string; message: string }) => {
      throw e.code === '42P01'
        ? new Error('no audit_log table: the database predates the audit chain (start the platform once)')
        : e;
    });
    if (report.firstBroken) {
      const { seq, reason } = report.firstBroken;
      throw new Broken(`audit chain broken at seq ${seq}: ${reason} (${report.count} entries read)`);
    }
    if (options.anchor) {
      const { rows } = await db.query<{ hash: string }>('select hash from audit_log where seq = $1', [
        options.anchor.seq,
      ]);
      const stored = rows[0]?.hash;
      if (stored !== options.anchor.hash) {
        throw new Broken(
          stored === undefined
            ? `anchor seq ${options.anchor.seq} is missing: the chain was cut back`
            : `anchor seq ${options.anchor.seq} has hash ${stored}, not the anchored one: the chain was rewritten`,
        );
      }
    }
    const head = report.head;
    if (options.printHead) {
      process.stdout.write(head ? `${head.seq}:${head.hash}\n` : 'empty\n');
    } else {
      process.stdout.write(
        head
          ? `audit chain holds: ${report.count} entries, head seq ${head.seq} ${head.hash}${options.anchor ? `, anchor seq ${options.anchor.seq} matches` : ''}\n`
          : 'audit chain holds: no entries yet\n',
      );
    }
  } finally {
    await db.close();
  }
}

run(process.argv.slice(2)).catch((e: unknown) => {
  const usage = e instanceof UsageError;
  process.stderr.write(`audit:verify: ${(e as Error).message}${usage ? `\n${USAGE}` : ''}\n`);
  process.exit(usage ? 2 : e instanceof Broken ? 1 : 3);
});
