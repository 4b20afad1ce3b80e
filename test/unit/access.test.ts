import { describe, expect, it } from 'vitest';
import { mayPublish, maySubscribe, type Principal } from '../../broker/access.ts';

const a: Principal = { kind: 'device', deviceId: 'A' };
const svc: Principal = { kind: 'service', name: 'svc-ingest' };

describe('broker topic fences', () => {
  it('lets a device publish only its own telemetry, ack and status', () => {
    expect(mayPublish(a, 'devices/A/telemetry')).toBe(true);
    expect(mayPublish(a, 'devices/A/ack')).toBe(true);
    expect(mayPublish(a, 'devices/A/status')).toBe(true);
    expect(mayPublish(a, 'devices/B/telemetry')).toBe(false);
    expect(mayPublish(a, 'devices/A/commands')).toBe(false);
    expect(mayPublish(a, 'platform/live/positions')).toBe(false);
  });

  it('lets a device subscribe only to its own commands, with no wildcards', () => {
    expect(maySubscribe(a, 'devices/A/commands')).toBe(true);
    expect(maySubscribe(a, 'devices/B/commands')).toBe(false);
    expect(maySubscribe(a, 'devices/+/commands')).toBe(false);
    expect(maySubscribe(a, '#')).toBe(false);
  });

  it('lets service accounts do what the platform needs', () => {
    expect(maySubscribe(svc, 'devices/+/telemetry')).toBe(true);
    expect(mayPublish(svc, 'devices/A/commands')).toBe(true);
  });
});
