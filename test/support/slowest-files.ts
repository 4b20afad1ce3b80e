/**
 * A vitest reporter that prints the ten slowest test files at the end of a run (time from the file's
 * start to its end: import, hooks and tests), so a file that grows slow is seen at once.
 */
import type { Reporter, TestModule } from 'vitest/node';

const SHOWN = 10;

export default class SlowestFiles implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const rows = modules
      .map((m) => {
        const d = m.diagnostic();
        const ms =
          d.environmentSetupDuration + d.prepareDuration + d.collectDuration + d.setupDuration + d.duration;
        return { file: m.relativeModuleId, project: m.project.name, ms };
      })
      .sort((a, b) => b.ms - a.ms)
      .slice(0, SHOWN);
    if (rows.length === 0) return;
    const lines = rows.map(
      (r) => `  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.project.padEnd(12)} ${r.file}`,
    );
    process.stdout.write(`\nSlowest ${rows.length} test files:\n${lines.join('\n')}\n`);
  }
}
