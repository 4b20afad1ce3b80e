/**
 * What goes wrong with a GPS box in the field, planned one day at a time alongside the machine's
 * work. Faults that take the box off the network (coverage gap, reboot, power cut) never overlap,
 * so each has one clear start and end in the ground truth.
 */
import type { Rng } from './rng.ts';

export type FaultKind = 'gpsLoss' | 'coverageGap' | 'reboot' | 'powerCut' | 'antennaCut';

export interface Fault {
  kind: FaultKind;
  from: number;
  /** Exclusive. Infinity: never recovers (the story machine's box). */
  to: number;
  /**
   * powerCut only: the backup battery gives out (or the box is pulled) at darkAt; from `from`
   * to `darkAt` the box still reports on battery with the powerCut alarm.
   */
  darkAt?: number;
}

/** Probability per machine and day. */
export interface FaultRates {
  /** Fix lost for minutes: under a bridge, in a steel-framed hall. */
  gpsLoss: number;
  /** No mobile coverage for a while: reports are buffered and uploaded later as a backlog. */
  coverageGap: number;
  /** The box restarts (watchdog, firmware update): offline a minute or two, seq starts again at 0. */
  reboot: number;
  /** Main power disconnected (battery isolator, repairs): powerCut alarm, dark, power back later. */
  powerCut: number;
  /** GPS antenna cut or unplugged: the box reports without a fix, antennaCut alarm. */
  antennaCut: number;
}

export const DEFAULT_FAULT_RATES: FaultRates = {
  gpsLoss: 0.15,
  coverageGap: 0.12,
  reboot: 0.03,
  powerCut: 0.01,
  antennaCut: 0.005,
};

export const NO_FAULTS: FaultRates = { gpsLoss: 0, coverageGap: 0, reboot: 0, powerCut: 0, antennaCut: 0 };

const MIN = 60_000;
const HOUR = 60 * MIN;
const wholeSecond = (t: number) => Math.round(t / 1000) * 1000;

/**
 * Faults starting on the day beginning at `dayStart` (local midnight). `offlineUntil` is when the
 * last off-network fault ends; returns the new value so the next day does not overlap it.
 */
export function planFaults(
  rng: Rng,
  dayStart: number,
  offlineUntil: number,
  rates: FaultRates,
): { faults: Fault[]; offlineUntil: number } {
  const faults: Fault[] = [];
  const daytime = () => wholeSecond(dayStart + rng.range(6, 22) * HOUR);

  if (rng.chance(rates.gpsLoss)) {
    const from = daytime();
    faults.push({ kind: 'gpsLoss', from, to: wholeSecond(from + rng.range(5, 40) * MIN) });
  }
  if (rng.chance(rates.antennaCut)) {
    const from = daytime();
    faults.push({ kind: 'antennaCut', from, to: wholeSecond(from + rng.range(2, 30) * HOUR) });
  }

  // One off-network fault per day at most; a draw is still made for each kind so that changing
  // one rate does not reshuffle the others.
  const draw = rng.float();
  const from = daytime();
  const pick = (): Fault | null => {
    let acc = rates.coverageGap;
    if (draw < acc) return { kind: 'coverageGap', from, to: wholeSecond(from + rng.range(20, 240) * MIN) };
    acc += rates.reboot;
    if (draw < acc) return { kind: 'reboot', from, to: wholeSecond(from + rng.range(60, 180) * 1000) };
    acc += rates.powerCut;
    if (draw < acc) {
      const darkAt = wholeSecond(from + rng.range(20, 90) * MIN);
      return { kind: 'powerCut', from, darkAt, to: wholeSecond(darkAt + rng.range(1, 8) * HOUR) };
    }
    return null;
  };
  const offline = pick();
  if (offline && offline.from > offlineUntil) {
    faults.push(offline);
    offlineUntil = offline.to;
  }
  return { faults, offlineUntil };
}

export function isOffNetwork(kind: FaultKind): boolean {
  return kind === 'coverageGap' || kind === 'reboot' || kind === 'powerCut';
}
