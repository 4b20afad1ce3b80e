/** Helpers to run the model without a broker: tests, ground-truth dumps, fixtures. */
import type { Telemetry } from '../shared/protocol.ts';
import type { SimEvent, SimMachine } from './machine.ts';

/** Advances a machine to `until` in steps of `stepMs` (the result must not depend on the step). */
export function runMachine(machine: SimMachine, until: number, stepMs = 3_600_000): SimEvent[] {
  const out: SimEvent[] = [];
  for (let t = machine.now + stepMs; ; t += stepMs) {
    const to = Math.min(t, until);
    out.push(...machine.advance(to));
    if (to >= until) return out;
  }
}

/** Every report in the events, backlog arrays flattened, in publish order. */
export function reportsOf(events: readonly SimEvent[]): Telemetry[] {
  const out: Telemetry[] = [];
  for (const e of events) {
    if (e.kind !== 'telemetry') continue;
    if (Array.isArray(e.payload)) out.push(...e.payload);
    else out.push(e.payload);
  }
  return out;
}

/** Reports in device-time order, as the platform should store them. */
export function byDeviceTime(reports: readonly Telemetry[]): Telemetry[] {
  return [...reports].sort((a, b) => a.ts - b.ts);
}

/** The ground truth of a whole fleet, as the CLI's --truth file holds it. */
export function fleetTruth(machines: readonly SimMachine[], meta: { seed: number; start: number }) {
  return {
    seed: meta.seed,
    start: new Date(meta.start).toISOString(),
    simulatedUntil:
      machines.length > 0 ? new Date(Math.max(...machines.map((m) => m.now))).toISOString() : null,
    machines: machines.map((m) => ({
      ...m.identity,
      engineHours: Math.round(m.engineHours * 100) / 100,
      ...m.truth(),
    })),
  };
}
