/**
 * What the platform is told about a simulated fleet: each box with its machine, and a finance
 * contract per machine. One mapping for both ways of telling it — in process by the embedded demo
 * (demo-fleet.ts) and over HTTP by `npm run sim -- --api` (api-setup.ts) — so the two cannot drift.
 */
import { type IsoDate, localDate } from '../shared/calendar-date.ts';
import { PLATFORM_TIME_ZONE } from '../shared/config.ts';
import { type DemoContract, generateDemoContracts } from './demo-contracts.ts';
import type { SimMachine } from './fleet.ts';

/** A box, its token and the machine it is installed on, as the device registry takes them. */
export interface SimDeviceProvision {
  deviceId: string;
  token: string;
  machine: { id: string; make: string; model: string; type: string; serial: string; year: number | null };
}

export function deviceProvision({ identity: m }: SimMachine): SimDeviceProvision {
  return {
    deviceId: m.deviceId,
    token: m.token,
    machine: { id: m.machineId, make: m.make, model: m.model, type: m.type, serial: m.pin, year: m.year },
  };
}

/** The fleet's contracts with "today" (`now`) as a contract-local date, the day they are as of. */
export function fleetContracts(
  machines: readonly SimMachine[],
  options: { seed: number; now: number },
): { asOf: IsoDate; contracts: DemoContract[] } {
  const asOf = localDate(options.now, PLATFORM_TIME_ZONE);
  const contracts = generateDemoContracts(
    machines.map(({ identity: m }) => ({
      machineId: m.machineId,
      deviceId: m.deviceId,
      province: m.province,
      city: m.city,
    })),
    { seed: options.seed, asOf },
  );
  return { asOf, contracts };
}
