/**
 * Who may do what on the broker. Pure rules, shared in spirit with deploy/mosquitto/acl:
 * a device (username = client id = device id) publishes only to its own telemetry, ack and status
 * topics and subscribes only to its own commands; a service account may do everything.
 */
import { parseTopic } from '../shared/protocol.ts';

export type Principal = { kind: 'device'; deviceId: string } | { kind: 'service'; name: string };

export function mayPublish(who: Principal, topic: string): boolean {
  if (who.kind === 'service') return true;
  const t = parseTopic(topic);
  return t !== null && t.deviceId === who.deviceId && t.kind !== 'commands';
}

export function maySubscribe(who: Principal, topic: string): boolean {
  if (who.kind === 'service') return true;
  const t = parseTopic(topic);
  return t !== null && t.deviceId === who.deviceId && t.kind === 'commands';
}
