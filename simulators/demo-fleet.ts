/**
 * The embedded demo: a simulated fleet provisioned in the registry (devices, machines,
 * installations), a finance contract per machine whose stage comes from the overdue engine, and
 * the fleet running over real MQTT with each device's own credentials. Provisioning is idempotent,
 * so a second start on the same data finds the same fleet. How devices and contracts are saved is
 * handed in (the composition root passes the api's registry and contract store), so the simulator
 * knows nothing of the platform's code.
 */
import type { Logger } from 'pino';
import type { IsoDate } from '../shared/calendar-date.ts';
import type { Config } from '../shared/config.ts';
import type { DemoContract } from './demo-contracts.ts';
import { createFleet } from './fleet.ts';
import { deviceProvision, fleetContracts, type SimDeviceProvision } from './provisioning.ts';
import { runFleet } from './run-fleet.ts';

/** A demo contract as a contract record: its guarantor as the list, its dealer without the city. */
export type DemoContractRecord = Omit<DemoContract, 'dealer'> & {
  guarantors: DemoContract['guarantor'][];
  dealer: { id: string; name: string; province: string };
};

/** What the demo fleet takes from the configuration (SIM_DEVICES, SIM_SEED, SIM_ID_PREFIX). */
export type DemoFleetConfig = Pick<Config, 'SIM_DEVICES' | 'SIM_SEED' | 'SIM_ID_PREFIX'>;

export interface DemoFleetDeps {
  mqttUrl: string;
  logger: Logger;
  /** The secret the boxes' tokens are derived from: random per data folder unless SIM_TOKEN_KEY is set. */
  tokenKey: string;
  now?: number;
  /** Registers the boxes with their machines (idempotent). */
  provision(devices: SimDeviceProvision[]): Promise<unknown>;
  /** Saves the contracts as of the given contract-local day (upsert by id). */
  saveContracts(contracts: DemoContractRecord[], asOf: IsoDate): Promise<unknown>;
}

export interface DemoFleet {
  example: { deviceId: string; token: string } | null;
  stop(): Promise<void>;
}

export async function startDemoFleet(config: DemoFleetConfig, deps: DemoFleetDeps): Promise<DemoFleet> {
  const o = { ...deps, devices: config.SIM_DEVICES, seed: config.SIM_SEED, idPrefix: config.SIM_ID_PREFIX };
  const now = o.now ?? Date.now();
  // The scripted run-away machine leaves ten minutes after start, so a demo session sees it.
  const machines = createFleet({
    devices: o.devices,
    seed: o.seed,
    idPrefix: o.idPrefix,
    tokenKey: o.tokenKey,
    start: now,
    story: { departAt: now + 10 * 60_000 },
  });
  await o.provision(machines.map(deviceProvision));
  const { asOf, contracts } = fleetContracts(machines, { seed: o.seed, now });
  await o.saveContracts(
    contracts.map((c) => ({
      ...c,
      customer: c.customer,
      guarantors: [c.guarantor],
      dealer: { id: c.dealer.id, name: c.dealer.name, province: c.dealer.province },
    })),
    asOf,
  );
  const run = runFleet({ mqttUrl: o.mqttUrl, machines, speed: 1, startTime: now, logger: o.logger });
  const first = machines[0]?.identity;
  return {
    example: first ? { deviceId: first.deviceId, token: first.token } : null,
    stop: () => run.stop(),
  };
}

/** Banner lines showing how to publish as the example device by hand (docs/device-protocol.md). */
export function tryByHand(example: { deviceId: string; token: string }, mqttUrl: string): string[] {
  const { deviceId, token } = example;
  const port = new URL(mqttUrl).port;
  return [
    '  Try a device by hand (docs/device-protocol.md):',
    `    mosquitto_pub -p ${port} -i ${deviceId} -u ${deviceId} -P ${token} -q 1 \\`,
    `      -t devices/${deviceId}/telemetry -m '{"v":1,"ts":'$(date +%s000)',"lat":31.23,"lon":121.47}'`,
  ];
}
