// placeholder until the simulator lands
import type { Logger } from 'pino';
import type { Database } from './db/client.ts';
export async function startDemoFleet(_o: {
  db: Database;
  mqttUrl: string;
  devices: number;
  seed: number;
  logger: Logger;
}): Promise<{ stop(): Promise<void>; example: { deviceId: string; token: string } | null }> {
  return { stop: async () => {}, example: null };
}
