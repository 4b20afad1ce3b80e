/**
 * The parent's side of the telemetry fleet: provisions the devices in the run's database, forks
 * fleet-publisher.ts and talks to it over IPC.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import type { FleetPlan, FleetProgress, FleetResult } from './fleet-publisher.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./fleet-publisher.ts', import.meta.url));

/** The fleet's device ids: `CHS-000001` …; the command boxes are `CHC-…`, so counts never mix them. */
export const FLEET_PREFIX = 'CHS-';
export const fleetDeviceId = (i: number) => `${FLEET_PREFIX}${String(i + 1).padStart(6, '0')}`;

export async function provisionFleet(
  db: Database,
  count: number,
): Promise<{ deviceId: string; token: string }[]> {
  const devices = Array.from({ length: count }, (_, i) => ({
    deviceId: fleetDeviceId(i),
    token: randomBytes(16).toString('hex'),
  }));
  for (let i = 0; i < devices.length; i += 1000) {
    await provisionDevices(
      db,
      devices.slice(i, i + 1000).map(({ deviceId, token }) => ({
        deviceId,
        token,
        machine: {
          id: `M-${deviceId}`,
          make: 'Sany',
          model: 'SY215C',
          type: 'excavator',
          serial: `S-${deviceId}`,
          year: 2022,
        },
      })),
    );
  }
  return devices;
}

export class FleetChild {
  private child: ChildProcess;
  private waiters = new Map<string, { resolve(m: unknown): void; reject(e: Error): void }>();
  private onProgress: (p: FleetProgress) => void = () => {};

  constructor() {
    this.child = fork(CHILD, ['--chaos-fleet'], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: { type: string; message?: string; progress?: FleetProgress }) => {
      if (m.type === 'progress') return this.onProgress(m.progress!);
      if (m.type === 'error') {
        for (const w of this.waiters.values()) w.reject(new Error(`fleet: ${m.message}`));
        this.waiters.clear();
        return;
      }
      this.waiters.get(m.type)?.resolve(m);
      this.waiters.delete(m.type);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiters.values()) w.reject(new Error(`fleet publisher exited with ${code}`));
      this.waiters.clear();
    });
  }

  private expect<T>(type: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiters.set(type, { resolve: resolve as (m: unknown) => void, reject });
    });
  }

  /** Connects every device; resolves with the seconds it took. */
  async connect(plan: FleetPlan): Promise<number> {
    const ready = this.expect<{ connectSeconds: number }>('ready');
    this.child.send({ type: 'plan', plan });
    return (await ready).connectSeconds;
  }

  /** Publishes for the plan's duration, then waits for the acknowledgements still outstanding. */
  async run(onProgress: (p: FleetProgress) => void): Promise<FleetResult> {
    this.onProgress = onProgress;
    const done = this.expect<{ result: FleetResult }>('done');
    this.child.send({ type: 'go' });
    return (await done).result;
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.send({ type: 'exit' });
    else this.child.kill('SIGTERM');
    await exited;
  }
}
