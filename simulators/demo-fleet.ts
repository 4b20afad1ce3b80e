/**
 * The embedded demo: a simulated fleet provisioned in the registry (devices, machines,
 * installations), a finance contract per machine whose stage comes from the overdue engine, and
 * the fleet running over real MQTT with each device's own credentials. Provisioning is idempotent,
 * so a second start on the same data finds the same fleet.
 */
import type { Logger } from 'pino';
import { saveContracts } from '../api/contracts/repository.ts';
import { provisionDevices } from '../api/devices/registry.ts';
import type { Database } from '../db/client.ts';
import { localDate } from '../shared/calendar-date.ts';
import { generateDemoContracts } from './demo-contracts.ts';
import { createFleet } from './fleet.ts';
import { runFleet } from './run-fleet.ts';

export interface DemoFleetOptions {
  db: Database;
  mqttUrl: string;
  devices: number;
  seed: number;
  /** Device ids are `{idPrefix}-000001`, …: see createFleet. */
  idPrefix?: string;
  logger: Logger;
  now?: number;
}

export interface DemoFleet {
  example: { deviceId: string; token: string } | null;
  stop(): Promise<void>;
}

export async function startDemoFleet(o: DemoFleetOptions): Promise<DemoFleet> {
  const now = o.now ?? Date.now();
  // The scripted run-away machine leaves ten minutes after start, so a demo session sees it.
  const machines = createFleet({
    devices: o.devices,
    seed: o.seed,
    idPrefix: o.idPrefix,
    start: now,
    story: { departAt: now + 10 * 60_000 },
  });
  await provisionDevices(
    o.db,
    machines.map(({ identity: m }) => ({
      deviceId: m.deviceId,
      token: m.token,
      machine: { id: m.machineId, make: m.make, model: m.model, type: m.type, serial: m.pin, year: m.year },
    })),
  );
  const asOf = localDate(now, 'Asia/Shanghai');
  const contracts = generateDemoContracts(
    machines.map(({ identity: m }) => ({
      machineId: m.machineId,
      deviceId: m.deviceId,
      province: m.province,
      city: m.city,
    })),
    { seed: o.seed, asOf },
  );
  await saveContracts(
    o.db,
    contracts.map((c) => ({
      ...c,
      customer: c.customer,
      guarantors: [c.guarantor],
      dealer: { id: c.dealer.id, name: c.dealer.name, province: c.dealer.province },
    })),
    asOf,
    'demo',
  );
  const run = runFleet({ mqttUrl: o.mqttUrl, machines, speed: 1, startTime: now, logger: o.logger });
  const first = machines[0]?.identity;
  return {
    example: first ? { deviceId: first.deviceId, token: first.token } : null,
    stop: () => run.stop(),
  };
}
