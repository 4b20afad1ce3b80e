/**
 * Unknown is never "off": a box that reports without ignition or speed (no ACC wire, no fix) never
 * engages its starter interrupt, such a report never confirms an immobilize, and the box's word
 * alone (`done`) never marks a relay command EXECUTED. Each of these once held the other way.
 */
import { describe, expect, it } from 'vitest';
import {
  executedByTelemetry,
  type SignedCommand,
  signCommand,
  stateAfterAck,
} from '../../shared/commands.ts';
import { commandKeyFor } from '../../shared/credentials.ts';
import type { DeviceCommand } from '../../simulators/device.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';

const DEVICE = 'SIM-000777';
const TOKEN = 'tok-unknown-is-not-off'.padEnd(32, 'x');
const T0 = Date.parse('2026-12-01T08:00:00Z');

/** A command as the box gets it: JSON off the commands topic. */
const overTheWire = (c: SignedCommand): DeviceCommand => JSON.parse(JSON.stringify(c));

function armedBox(): BoxFirmware {
  const box = new BoxFirmware(DEVICE, TOKEN);
  // Driving when the command arrives: it arms, and must wait for the machine to stand.
  box.report({ v: 1, ts: T0, lat: 30.5, lon: 114.3, fix: true, ign: true, spd: 30 });
  const command = signCommand(
    {
      id: 'cmd-1',
      deviceId: DEVICE,
      type: 'immobilize',
      counter: 1,
      issuedAt: T0,
      expiresAt: T0 + 3_600_000,
      nonce: 'a'.repeat(32),
    },
    commandKeyFor(TOKEN),
  );
  expect(box.onCommand(overTheWire(command), T0 + 1000)).toMatchObject({ ok: true, status: 'accepted' });
  expect(box.immobilizer.state).toEqual({ armed: true, engaged: false });
  return box;
}

describe('unknown is never "off"', () => {
  it('an armed box does not engage on reports that lack ignition or speed', () => {
    const box = armedBox();
    for (const partial of [
      { spd: 0 }, // ignition unknown
      { ign: false }, // speed unknown
      {}, // neither
    ]) {
      const out = box.report({ v: 1, ts: T0 + 60_000, lat: 30.5, lon: 114.3, fix: true, ...partial });
      expect(out.rly).toBe(false);
      expect(box.immobilizer.state.engaged).toBe(false);
    }
    // Read as standing with the ignition off: now it engages.
    const out = box.report({ v: 1, ts: T0 + 120_000, lat: 30.5, lon: 114.3, fix: true, ign: false, spd: 0 });
    expect(out.rly).toBe(true);
    expect(box.immobilizer.state.engaged).toBe(true);
  });

  it('an immobilize arriving before any reading arms without engaging', () => {
    const box = new BoxFirmware(DEVICE, TOKEN);
    const command = signCommand(
      {
        id: 'cmd-2',
        deviceId: DEVICE,
        type: 'immobilize',
        counter: 1,
        issuedAt: T0,
        expiresAt: T0 + 3_600_000,
        nonce: 'b'.repeat(32),
      },
      commandKeyFor(TOKEN),
    );
    box.onCommand(overTheWire(command), T0);
    expect(box.immobilizer.state).toEqual({ armed: true, engaged: false });
  });

  it('a report without ignition or speed confirms no immobilize', () => {
    expect(executedByTelemetry('immobilize', 'ACKED', { rly: true, ign: null, spd: 0 })).toBe(false);
    expect(executedByTelemetry('immobilize', 'ACKED', { rly: true, ign: false, spd: null })).toBe(false);
    expect(executedByTelemetry('immobilize', 'ACKED', { rly: true, ign: false, spd: 0 })).toBe(true);
  });

  it("the box's `done` leaves a relay command ACKED until telemetry shows it", () => {
    expect(stateAfterAck('SENT', { id: 'x', status: 'done' }, 'immobilize')).toBe('ACKED');
    expect(stateAfterAck('SENT', { id: 'x', status: 'done' }, 'release')).toBe('ACKED');
    expect(stateAfterAck('SENT', { id: 'x', status: 'done' }, 'locate')).toBe('EXECUTED');
    expect(stateAfterAck('SENT', { id: 'x', status: 'refused' }, 'immobilize')).toBe('FAILED');
  });
});
