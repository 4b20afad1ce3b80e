/**
 * The engines a test runs against: embedded (aedes + PGlite in memory) by default, the real ones
 * when MQTT_URL / DATABASE_URL are set. A real database gets a scratch database per test file,
 * created from DATABASE_URL and dropped afterwards, so runs never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const realBroker = process.env.MQTT_URL || undefined;
export const realDatabase = process.env.DATABASE_URL || undefined;
export const engineName = `${realBroker ? 'mosquitto' : 'aedes'}+${realDatabase ? 'postgres' : 'pglite'}`;

export interface ScratchDatabase {
  url: string | undefined;
  drop(): Promise<void>;
}

export async function scratchDatabase(): Promise<ScratchDatabase> {
  if (!realDatabase) return { url: undefined, drop: async () => {} };
  const name = `rt_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: realDatabase });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(realDatabase);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: realDatabase });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
