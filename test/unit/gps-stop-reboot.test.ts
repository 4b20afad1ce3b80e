/**
 * The box remembers across reboots, and its answers are its own. Immobilize I1, release R1, reboot,
 * replay I1: refused, nothing armed (the box once kept its ids and newest release in RAM only, and
 * took I1 again while the platform believed the machine released). Each answer is signed with the
 * device key; a box with a clock days behind still takes a release.
 */
import { describe, expect, it } from 'vitest';
import {
  ackSignatureMatches,
  type CommandAck as ProtocolAck,
  type SignedCommand,
  signCommand,
} from '../../shared/commands.ts';
import { commandKeyFor } from '../../shared/credentials.ts';
import type { DeviceCommand } from '../../simulators/device.ts';
import { BoxFirmware } from '../../simulators/firmware.ts';

const DEVICE = 'SIM-000778';
const TOKEN = 'tok-the-box-remembers'.padEnd(32, 'x');
const KEY = commandKeyFor(TOKEN);
const T0 = Date.parse('2026-12-01T08:00:00Z');
const HOUR = 3_600_000;
const parked = { v: 1 as const, lat: 30.5, lon: 114.3, fix: true, ign: false, spd: 0 };

const command = (id: string, type: SignedCommand['type'], counter: number, issuedAt = T0): DeviceCommand =>
  JSON.parse(
    JSON.stringify(
      signCommand(
        {
          id,
          deviceId: DEVICE,
          type,
          counter,
          issuedAt,
          expiresAt: issuedAt + 24 * HOUR,
          nonce: id.padEnd(32, '0'),
        },
        KEY,
      ),
    ),
  );

describe('the box remembers across reboots', () => {
  it('refuses a replayed immobilize after a release and a reboot', () => {
    const box = new BoxFirmware(DEVICE, TOKEN);
    box.report({ ...parked, ts: T0 });
    const i1 = command('I1', 'immobilize', 1);
    expect(box.onCommand(i1, T0 + 1000)).toMatchObject({ status: 'accepted' });
    box.report({ ...parked, ts: T0 + 2000 });
    expect(box.immobilizer.state).toEqual({ armed: true, engaged: true });
    expect(box.onCommand(command('R1', 'release', 2, T0 + HOUR), T0 + HOUR)).toMatchObject({
      status: 'accepted',
    });
    expect(box.immobilizer.state).toEqual({ armed: false, engaged: false });

    box.immobilizer.reboot();
    const replay = box.onCommand(i1, T0 + 2 * HOUR);
    // Either the remembered first answer (not acted on again) or a refusal: never armed.
    expect(box.immobilizer.state).toEqual({ armed: false, engaged: false });
    box.report({ ...parked, ts: T0 + 2 * HOUR + 1000 });
    expect(box.immobilizer.state).toEqual({ armed: false, engaged: false });
    expect(['accepted', 'refused']).toContain(replay.status);
  });

  it('refuses any command not newer than the last it took, also one it never saw, after a reboot', () => {
    const box = new BoxFirmware(DEVICE, TOKEN);
    box.report({ ...parked, ts: T0 });
    expect(box.onCommand(command('L5', 'locate', 5), T0)).toMatchObject({ status: 'done' });
    box.immobilizer.reboot();
    const old = box.onCommand(command('I3', 'immobilize', 3), T0 + 1000);
    expect(old).toMatchObject({ status: 'refused', reason: 'replayed' });
    expect(box.immobilizer.state.armed).toBe(false);
  });

  it('stays armed through a reboot: power-cycling does not free the machine', () => {
    const box = new BoxFirmware(DEVICE, TOKEN);
    box.report({ ...parked, ts: T0 });
    box.onCommand(command('I7', 'immobilize', 7), T0);
    box.report({ ...parked, ts: T0 + 1000 });
    box.immobilizer.reboot();
    expect(box.immobilizer.state).toEqual({ armed: true, engaged: true });
  });

  it('takes a release whatever its clock says, and signs every answer', () => {
    const box = new BoxFirmware(DEVICE, TOKEN);
    box.report({ ...parked, ts: T0 });
    box.onCommand(command('I8', 'immobilize', 8), T0);
    // The box's clock is three days behind the platform that issued the release.
    const ack = box.onCommand(command('R9', 'release', 9, T0 + 72 * HOUR), T0) as unknown as ProtocolAck; // as it goes on the wire
    expect(ack).toMatchObject({ status: 'accepted' });
    expect(box.immobilizer.state).toEqual({ armed: false, engaged: false });
    expect(ackSignatureMatches(ack, KEY)).toBe(true);
    expect(ackSignatureMatches({ ...ack, status: 'done' }, KEY)).toBe(false);
    expect(ackSignatureMatches({ ...ack, sig: undefined }, KEY)).toBe(false);
  });
});
