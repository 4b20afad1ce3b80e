/**
 * Who each simulated machine is: its GPS box (device id and token), the machine itself (make,
 * model, PIN, year), where it is based (yard) and where it works (job sites). Derived from
 * (seed, index) alone, so the platform's demo data can be seeded from the same numbers — except
 * the box's token, which comes from a secret token key: a seed is no secret (the default one is
 * in the docs), and a token anyone can compute lets anyone report as that machine.
 */
import { createHmac } from 'node:crypto';
import {
  MACHINE_TYPES,
  type MachineType,
  modelsOfType,
  TYPE_BEHAVIOUR,
  type TypeBehaviour,
} from './catalog.ts';
import { type LatLon, scatter } from './geo.ts';
import type { Site } from './life.ts';
import { CITIES, type City, cityNamed } from './places.ts';
import { createRng } from './rng.ts';
import { STORY_CITY, STORY_INDEX } from './story.ts';

export interface MachineIdentity {
  index: number;
  /** MQTT client id and username; `SIM-000001` for index 0 (`{prefix}-000001` with another prefix). */
  deviceId: string;
  /** MQTT password: 32 hex digits, derived from the fleet's token key and the device id. */
  token: string;
  machineId: string;
  make: string;
  model: string;
  type: MachineType;
  /** Product identification number (serial) stamped on the frame. */
  pin: string;
  year: number;
  province: string;
  provinceZh: string;
  city: string;
  cityZh: string;
}

export interface MachineHome {
  city: City;
  /** Where it parks at night. */
  yard: LatLon;
  /** 1-3 job sites within tens of km of the yard. */
  sites: Site[];
  behaviour: TypeBehaviour;
  /** Hour meter reading when the simulation starts. */
  engineHoursAtStart: number;
  /** This box's report interval while parked (boxes are configured with one value). */
  parkedIntervalMs: number;
  /** Typical signal strength where it lives, dBm. */
  rssiBase: number;
}

/** The default device id prefix; another one keeps two fleets on one broker apart. */
export const DEFAULT_ID_PREFIX = 'SIM';
export const deviceIdFor = (index: number, prefix = DEFAULT_ID_PREFIX) =>
  `${prefix}-${String(index + 1).padStart(6, '0')}`;
/** The box's MQTT password: HMAC-SHA256 of its device id under the token key, 32 hex digits. */
export const deviceTokenFor = (tokenKey: string, deviceId: string) =>
  createHmac('sha256', tokenKey).update(deviceId).digest('hex').slice(0, 32);
/**
 * The token key of a fleet whose tokens anyone may compute from its seed: tests, replays and the
 * simulator CLI, never a platform reachable by others (the embedded demo's key is random).
 */
export const seedTokenKey = (seed: number) => `seed-derived-token-key:${seed}`;
export const machineIdFor = (index: number) => `MCH-${String(index + 1).padStart(6, '0')}`;

const PROJECTS = [
  'metro depot',
  'ring road',
  'industrial park',
  'residential block',
  'river embankment',
  'logistics hub',
  'school campus',
  'expressway interchange',
  'water plant',
  'rail freight yard',
  'sewage works',
  'village road',
];

function pickType(r: () => number): MachineType {
  const total = MACHINE_TYPES.reduce((s, t) => s + TYPE_BEHAVIOUR[t].weight, 0);
  let x = r() * total;
  for (const t of MACHINE_TYPES) {
    x -= TYPE_BEHAVIOUR[t].weight;
    if (x < 0) return t;
  }
  return 'excavator';
}

export function makeMachine(
  seed: number,
  index: number,
  start: number,
  parkedIntervalMs: readonly [number, number],
  idPrefix = DEFAULT_ID_PREFIX,
  tokenKey = seedTokenKey(seed),
): { identity: MachineIdentity; home: MachineHome } {
  const rng = createRng(seed, index, 'identity');
  const story = index === STORY_INDEX;
  const type = story ? 'excavator' : pickType(rng.float);
  const spec = story ? modelsOfType('excavator')[0]! : rng.pick(modelsOfType(type));
  const city = story ? cityNamed(STORY_CITY) : rng.pick(CITIES);
  const startYear = new Date(start).getUTCFullYear();
  const year = story ? startYear - 3 : startYear - rng.int(0, 8);
  const serialDigits = 17 - spec.pinPrefix.length - 2;
  const pin = `${spec.pinPrefix}${String(year % 100).padStart(2, '0')}${String(rng.int(0, 10 ** serialDigits - 1)).padStart(serialDigits, '0')}`;
  const behaviour = TYPE_BEHAVIOUR[type];

  const yard = scatter(rng, city, 2000, 12000);
  const siteCount = rng.int(1, 3);
  const projects = [...PROJECTS];
  const sites: Site[] = [];
  for (let i = 0; i < siteCount; i++) {
    const project = projects.splice(rng.int(0, projects.length - 1), 1)[0]!;
    sites.push({
      name: `${city.name} ${project}`,
      center: scatter(rng, yard, behaviour.siteKm[0] * 1000, behaviour.siteKm[1] * 1000),
      radiusM: behaviour.siteRadiusM,
    });
  }
  const ageYears = Math.max(0.3, startYear - year + rng.float());
  const minutes = [
    Math.ceil(parkedIntervalMs[0] / 60_000),
    Math.floor(parkedIntervalMs[1] / 60_000),
  ] as const;
  const parked =
    minutes[0] <= minutes[1]
      ? rng.int(minutes[0], minutes[1]) * 60_000
      : Math.round(rng.range(parkedIntervalMs[0], parkedIntervalMs[1]) / 1000) * 1000;

  return {
    identity: {
      index,
      deviceId: deviceIdFor(index, idPrefix),
      token: deviceTokenFor(tokenKey, deviceIdFor(index, idPrefix)),
      machineId: machineIdFor(index),
      make: spec.make,
      model: spec.model,
      type,
      pin,
      year,
      province: city.province,
      provinceZh: city.provinceZh,
      city: city.name,
      cityZh: city.nameZh,
    },
    home: {
      city,
      yard,
      sites,
      behaviour,
      engineHoursAtStart: Math.round(ageYears * rng.range(600, 1500) * 10) / 10,
      parkedIntervalMs: Math.max(1000, parked),
      rssiBase: rng.int(-97, -67),
    },
  };
}
