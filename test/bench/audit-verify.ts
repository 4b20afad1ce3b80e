/**
 * How the audit chain scales: verifying N entries (default 1,000,000) page by page, with the
 * process's memory before and after, and the append rate one at a time and from parallel
 * transactions. On a scratch database of DATABASE_URL (dropped afterwards), or PGlite in memory.
 *
 *   npx tsx test/bench/audit-verify.ts [--entries 1000000] [--appends 2000]
 */
import { parseArgs } from 'node:util';
import { appendAudit, verifyAuditChain } from '../../api/audit/log.ts';
import { openDatabase } from '../../db/client.ts';
import { migrate } from '../../db/migrate.ts';
import { type ChainedEntry, nextEntry } from '../../shared/audit.ts';
import { scratchDatabase } from '../support/engines.ts';

const { values } = parseArgs({
  options: { entries: { type: 'string', default: '1000000' }, appends: { type: 'string', default: '2000' } },
});
const total = Number(values.entries);
const appends = Number(values.appends);
const mb = (n: number) => Math.round(n / 1e6);

const scratch = await scratchDatabase();
const db = await openDatabase({ url: scratch.url });
try {
  await migrate(db);
  const engine = scratch.url ? 'postgres' : 'pglite';

  // Loading: the chain is built here (the same code that appends) and inserted in batches.
  const loadStart = performance.now();
  let prev: ChainedEntry | null = null;
  const t0 = Date.UTC(2026, 0, 1);
  for (let done = 0; done < total; ) {
    const batch: ChainedEntry[] = [];
    for (let i = 0; i < 5000 && done < total; i++, done++) {
      prev = nextEntry(
        prev,
        {
          actor: `user${done % 50}`,
          action: 'command.transition',
          subject: `command:${Math.floor(done / 6)}`,
          detail: { from: 'QUEUED', to: 'SENT', reason: 'delivered to the broker', attempt: done % 3 },
        },
        new Date(t0 + done * 1000),
      );
      batch.push(prev);
    }
    await db.query(
      `insert into audit_log (seq, at, actor, action, subject, detail, prev_hash, hash) overriding system value
       select * from unnest($1::bigint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::text[], $8::text[])`,
      [
        batch.map((e) => e.seq),
        batch.map((e) => e.at),
        batch.map((e) => e.actor),
        batch.map((e) => e.action),
        batch.map((e) => e.subject),
        batch.map((e) => JSON.stringify(e.detail)),
        batch.map((e) => e.prevHash),
        batch.map((e) => e.hash),
      ],
    );
  }
  const loadS = (performance.now() - loadStart) / 1000;

  global.gc?.();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 50);
  const verifyStart = performance.now();
  const report = await verifyAuditChain(db);
  const verifyS = (performance.now() - verifyStart) / 1000;
  clearInterval(sampler);

  const appendStart = performance.now();
  for (let i = 0; i < appends; i++) {
    await db.transaction((tx) =>
      appendAudit(tx, { actor: 'risk1', action: 'command.approve', subject: `command:${i}`, detail: { i } }),
    );
  }
  const sequentialPerS = appends / ((performance.now() - appendStart) / 1000);
  const parallelStart = performance.now();
  await Promise.all(
    Array.from({ length: appends }, (_, i) =>
      db.transaction((tx) =>
        appendAudit(tx, {
          actor: 'risk2',
          action: 'command.approve',
          subject: `command:p${i}`,
          detail: { i },
        }),
      ),
    ),
  );
  const parallelPerS = appends / ((performance.now() - parallelStart) / 1000);
  const after = await verifyAuditChain(db);

  console.log(
    JSON.stringify(
      {
        engine,
        entries: total,
        loadS: Number(loadS.toFixed(1)),
        verify: { ok: report.ok, count: report.count, seconds: Number(verifyS.toFixed(2)) },
        verifyPerS: Math.round(report.count / verifyS),
        rssMbBefore: mb(before.rss),
        rssMbPeakDuringVerify: mb(peakRss),
        appendsPerS: { sequential: Math.round(sequentialPerS), parallel: Math.round(parallelPerS) },
        chainAfterAppends: { ok: after.ok, count: after.count },
      },
      null,
      2,
    ),
  );
} finally {
  await db.close();
  await scratch.drop();
}
