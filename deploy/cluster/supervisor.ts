/**
 * One local process of the cluster, kept running the way compose keeps a container with
 * `restart: unless-stopped` running: whatever ends it (a crash, a SIGKILL) it is started again,
 * after a delay that doubles from 100 ms on each quick exit and starts over once a run lasted 10 s
 * (Docker's restart back-off, capped lower here so a test does not wait a minute), until stop().
 * Its stdout and stderr go to its log file, appended across restarts, with a line from the
 * supervisor at each start and exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';
import type { ProcessSpec } from './plan.ts';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 10_000;
const STEADY_RUN_MS = 10_000;

export class Supervised {
  restarts = 0;
  private child: ChildProcess | null = null;
  private stopping = false;
  private delayMs = FIRST_DELAY_MS;
  private timer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly spec: ProcessSpec,
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  start(): void {
    if (this.stopping) return;
    const { spec } = this;
    const log = openSync(this.logFile, 'a');
    this.note(
      `starting ${spec.command} ${spec.args.join(' ')}${this.restarts ? ` (restart ${this.restarts})` : ''}`,
    );
    const startedAt = Date.now();
    // A process group of its own: a Ctrl-C in the terminal reaches only the cluster's CLI, which
    // stops the processes itself (a process that got the SIGINT too would be restarted meanwhile).
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env,
      stdio: ['ignore', log, log],
      detached: true,
    });
    closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => {
      let settled = false;
      const settle = (how: string, code: number | null) => {
        if (settled) return;
        settled = true;
        this.child = null;
        this.note(`${how} after ${Date.now() - startedAt} ms`);
        resolve();
        this.exitedWith(code, Date.now() - startedAt);
      };
      // A program that cannot be started (not found, not executable) emits only 'error'.
      child.once('error', (e) => {
        if (child.pid === undefined) settle(`could not start: ${e.message}`, 127);
      });
      child.once('close', (code, signal) => settle(`exited (${signal ?? `code ${code}`})`, code));
    });
  }

  private exitedWith(code: number | null, ranMs: number): void {
    const { restart } = this.spec;
    if (this.stopping || restart === 'no' || (restart === 'on-failure' && code === 0)) return;
    if (ranMs >= STEADY_RUN_MS) this.delayMs = FIRST_DELAY_MS;
    this.note(`restarting in ${this.delayMs} ms (restart policy)`);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.restarts += 1;
      this.start();
    }, this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, MAX_DELAY_MS);
  }

  /** Sends a signal to the current process (if one runs); the restart policy then applies. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  /** SIGTERM, SIGKILL after the grace period (compose's stop_grace_period); no restart after it. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (!this.child) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child?.kill('SIGKILL'), this.spec.stopGraceMs);
    await this.exited;
    clearTimeout(killer);
  }

  /** The last lines of its log, for an error message. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  private note(message: string): void {
    appendFileSync(this.logFile, `[cluster ${new Date().toISOString()}] ${this.spec.name}: ${message}\n`);
  }
}
