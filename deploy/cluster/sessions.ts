/**
 * Removes the persistent MQTT sessions a stopped cluster's ingest workers leave on a shared broker.
 * Mosquitto keeps such a session (and queues its share of the group's messages in it) until
 * persistent_client_expiration, forever by default: connecting once with the same client id and a
 * clean session discards it (MQTT 3.1.1), and that connection's own session ends with it.
 */
import mqtt from 'mqtt';

export async function forgetSessions(
  url: string,
  clientIds: string[],
  login: { username?: string | undefined; password?: string | undefined } = {},
): Promise<void> {
  for (const clientId of clientIds) {
    const client = await mqtt.connectAsync(url, {
      clientId,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...(login.username ? { username: login.username, password: login.password } : {}),
    });
    await client.endAsync();
  }
}
