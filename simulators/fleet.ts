/**
 * The simulated fleet: a dealer network's financed machines, each with a GPS box, living a
 * plausible working life in simulated time. Pure and deterministic: randomness comes from the
 * seed, time from the caller (`advance(to)`), so a test can replay a week in milliseconds and
 * the live demo can run the same machines at wall-clock speed.
 */

import { DEVICE_ID_PREFIX } from '../shared/protocol.ts';
import { DEFAULT_FAULT_RATES, type FaultRates } from './faults.ts';
import { DEFAULT_ID_PREFIX, makeMachine } from './identity.ts';
import { CST_OFFSET_MS, DAY_MS } from './life.ts';
import { SimMachine } from './machine.ts';
import { STORY_INDEX } from './story.ts';

export type { FaultRates } from './faults.ts';
export type { LatLon } from './geo.ts';
export {
  deviceIdFor,
  deviceTokenFor,
  type MachineHome,
  type MachineIdentity,
  machineIdFor,
  seedTokenKey,
} from './identity.ts';
export type { DayKind, DayLog, Site } from './life.ts';
export { type LinkReason, type MachineTruth, type SimEvent, SimMachine } from './machine.ts';
export { STORY_INDEX } from './story.ts';
export type { TruthEvent } from './truth.ts';

/** The story machine's device id (index 0 of every fleet) with the default id prefix. */
export const STORY_DEVICE_ID = 'SIM-000001';

export interface ReportIntervals {
  /** While moving or with the ignition on. Default 30 s. */
  movingMs?: number;
  /** While parked with the ignition off; each box gets one value in this range. Default 5-10 min. */
  parkedMs?: readonly [number, number];
}

export interface FleetOptions {
  devices: number;
  seed: number;
  /** Simulated start time, epoch ms. */
  start: number;
  /**
   * Device ids are `{idPrefix}-000001`, … (default `SIM`). Fleets sharing a broker need different
   * prefixes: the same id twice means two boxes taking over each other's MQTT session and
   * reporting into each other's track.
   */
  idPrefix?: string;
  /**
   * The secret the boxes' tokens are derived from (identity.ts). Default: one derived from the seed,
   * so anyone who knows the seed can compute every token — for tests and replays only.
   */
  tokenKey?: string;
  intervals?: ReportIntervals;
  /** Per-day probabilities of box faults; `{}` keeps the defaults, zeros switch a kind off. */
  faults?: Partial<FaultRates>;
  /**
   * The scripted story (machine SIM-000001 leaves on a trailer at night and goes dark).
   * `departAt` defaults to 23:30 China time on the first night at least an hour after start;
   * set it to a few minutes after start for a live demo. `false`: no story, machine 0 lives normally.
   */
  story?: { departAt?: number } | false;
  /** Most reports in one backlog upload message. Default 100 (about 20 KB). */
  backlogChunk?: number;
}

const MIN = 60_000;

/** 23:30 China Standard Time on the first night starting at least an hour after `start`. */
export function defaultStoryDeparture(start: number): number {
  const local = start + CST_OFFSET_MS + 60 * MIN;
  const dayStartLocal = Math.floor(local / DAY_MS) * DAY_MS;
  let depart = dayStartLocal + 23.5 * 60 * MIN;
  if (depart < local) depart += DAY_MS;
  return depart - CST_OFFSET_MS;
}

export function createFleet(options: FleetOptions): SimMachine[] {
  const { devices, seed, start } = options;
  if (!Number.isInteger(devices) || devices < 0) throw new RangeError('devices must be a whole number ≥ 0');
  if (!Number.isFinite(start)) throw new RangeError('start must be epoch milliseconds');
  const movingIntervalMs = options.intervals?.movingMs ?? 30_000;
  const parkedMs = options.intervals?.parkedMs ?? [5 * MIN, 10 * MIN];
  if (movingIntervalMs < 1000 || parkedMs[0] < 1000 || parkedMs[1] < parkedMs[0]) {
    throw new RangeError('report intervals must be at least 1 s, parked range [min, max]');
  }
  const idPrefix = options.idPrefix ?? DEFAULT_ID_PREFIX;
  if (!DEVICE_ID_PREFIX.test(idPrefix))
    throw new RangeError('idPrefix: 1-40 of A-Z a-z 0-9 _ . -, starting alphanumeric');
  const faultRates: FaultRates = { ...DEFAULT_FAULT_RATES, ...options.faults };
  const storyDepartAt =
    options.story === false ? undefined : (options.story?.departAt ?? defaultStoryDeparture(start));

  if (storyDepartAt !== undefined && storyDepartAt < start)
    throw new RangeError('story.departAt is before start');

  const machines: SimMachine[] = [];
  for (let index = 0; index < devices; index++) {
    const { identity, home } = makeMachine(seed, index, start, parkedMs, idPrefix, options.tokenKey);
    machines.push(
      new SimMachine(identity, home, {
        seed,
        start,
        movingIntervalMs,
        backlogChunk: options.backlogChunk,
        faultRates,
        storyDepartAt: index === STORY_INDEX ? storyDepartAt : undefined,
      }),
    );
  }
  return machines;
}
