/**
 * The broker side of a process: the embedded aedes broker when no MQTT_URL is configured, the
 * Mosquitto password file kept in step with the registry when MOSQUITTO_PASSWORD_FILE is, and the
 * service account the platform's own clients (ingest, api) connect with. The registry's checks are
 * handed in, so the broker knows devices only through them.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Database } from '../db/client.ts';
import type { CredentialsListener } from '../db/devices.ts';
import type { Config } from '../shared/config.ts';
import { serviceOrDevice, startEmbeddedBroker } from './embedded.ts';
import { keepPasswordFileInSync } from './mosquitto-sync.ts';
import { maxPacketBytes } from './packet-limit.ts';

export interface BrokerDeps {
  db: Database;
  logger: Logger;
  /** Where the password file's rewrites are counted, when there is one. */
  metrics?: Registry | undefined;
  /** True when the token is the device's current one and the device is enabled. */
  verifyDevice(deviceId: string, token: string): Promise<boolean>;
  /**
   * Registers a listener for changes of device credentials, this process's and (on PostgreSQL)
   * every other's; resolves once no later change can be missed, with the removal.
   */
  onCredentialsChanged(listener: CredentialsListener): Promise<() => Promise<void>>;
}

export interface BrokerHandle {
  /** Where the platform's clients connect. */
  url: string;
  embedded: boolean;
  /** The platform's service account: random per run on the embedded broker, configured otherwise. */
  service: { username?: string | undefined; password?: string | undefined };
  stop(): Promise<void>;
}

const SERVICE_USER = 'svc-platform';

export async function startBroker(config: Config, deps: BrokerDeps): Promise<BrokerHandle> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) {
      await s().catch((e) => deps.logger.error({ err: e }, 'error while stopping'));
    }
  };
  try {
    if (config.MOSQUITTO_PASSWORD_FILE) {
      stops.push(
        await keepPasswordFileInSync({
          db: deps.db,
          path: config.MOSQUITTO_PASSWORD_FILE,
          logger: deps.logger,
          metrics: deps.metrics,
          onCredentialsChanged: deps.onCredentialsChanged,
        }),
      );
    }
    if (config.MQTT_URL !== undefined) {
      const service = { username: config.MQTT_USERNAME, password: config.MQTT_PASSWORD };
      return { url: config.MQTT_URL, embedded: false, service, stop };
    }
    const service = { username: SERVICE_USER, password: randomBytes(16).toString('hex') };
    const broker = await startEmbeddedBroker(
      { port: config.MQTT_PORT, host: config.HOST, maxPacketBytes: maxPacketBytes(config.MAX_PAYLOAD_BYTES) },
      serviceOrDevice(service, deps.verifyDevice),
    );
    stops.push(() => broker.close());
    return { url: broker.url, embedded: true, service, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
