/**
 * The box's side of remote commands (firmware model, pure): checks each command's signature,
 * device, validity window and nonce; answers a repeat of a known id with the same answer without
 * acting twice; and drives the starter interrupt. An immobilize ARMS the interrupt; it ENGAGES only
 * once the machine is stationary with the ignition off, and from then on the ignition is refused.
 * It never stops a running engine. A release disengages and disarms at once.
 */
import {
  type CommandAck,
  type RefusalReason,
  type SignedCommand,
  STATIONARY_KMH,
  signatureMatches,
} from '../shared/commands.ts';
import { COMMAND_TYPES } from '../shared/policy.ts';

/** The box accepts a command issued up to this far in its future (clock drift). */
const MAX_CLOCK_AHEAD_MS = 5 * 60_000;

export { STATIONARY_KMH };

/** The machine stands with the ignition off, as read; false when either is unknown. */
export const standsWithIgnitionOff = (m: MachineReading): boolean =>
  m.ign === false && m.spd !== null && m.spd < STATIONARY_KMH;

export interface RelayState {
  /** An immobilize was accepted and not released. */
  armed: boolean;
  /** The starter is actually cut (reported as `rly: true`). */
  engaged: boolean;
}

/**
 * What the box reads of the machine: the ignition line and the speed, each null when the box does
 * not know it (no ACC wire, no fix). Unknown is never "off": the interrupt engages only on a
 * reading that shows the machine standing with the ignition off.
 */
export interface MachineReading {
  ign: boolean | null;
  spd: number | null;
}

export interface FirmwareEvent {
  /** `lapsed`: an armed interrupt that never engaged disarmed itself at the immobilize's expiry. */
  kind: 'armed' | 'engaged' | 'released' | 'lapsed' | 'warned' | 'located';
  at: number;
}

export class Immobilizer {
  private readonly answers = new Map<string, CommandAck>();
  private readonly nonces = new Map<string, string>();
  private relay: RelayState = { armed: false, engaged: false };
  /** The expiry of the immobilize that armed the interrupt: armed but not engaged by then, it disarms. */
  private armedUntil = Number.POSITIVE_INFINITY;
  /** Issue time of the newest release applied: an immobilize issued before it is stale. */
  private releasedAt = Number.NEGATIVE_INFINITY;
  readonly events: FirmwareEvent[] = [];

  constructor(
    private readonly deviceId: string,
    /** The device's command key, hex (provisioned with the box). */
    private readonly key: string,
  ) {}

  get state(): RelayState {
    return { ...this.relay };
  }

  /** Handles one message from the commands topic; always returns the ack to send. */
  receive(message: unknown, now: number, machine: MachineReading): CommandAck {
    const c = message as Partial<SignedCommand> | null;
    const id = typeof c?.id === 'string' ? c.id : '';
    const known = this.answers.get(id);
    // A repeat (broker redelivery, dispatcher resend) of the very same command gets the same answer
    // and is not acted on again; a different command under a known id is a forgery.
    if (known && c && this.nonces.get(c.nonce ?? '') === id) return known;
    const refusal = this.check(c, now);
    if (refusal) return this.refuse(id, refusal, now, !known);
    const cmd = c as SignedCommand;
    this.nonces.set(cmd.nonce, cmd.id);
    const ack = this.apply(cmd, now, machine);
    this.answers.set(cmd.id, ack);
    return ack;
  }

  private check(c: Partial<SignedCommand> | null, now: number): RefusalReason | null {
    if (!c) return 'malformed';
    if (
      c.v !== 1 ||
      typeof c.id !== 'string' ||
      c.id === '' ||
      typeof c.deviceId !== 'string' ||
      typeof c.type !== 'string' ||
      typeof c.nonce !== 'string' ||
      typeof c.sig !== 'string' ||
      !Number.isSafeInteger(c.issuedAt) ||
      !Number.isSafeInteger(c.expiresAt)
    ) {
      return 'malformed';
    }
    if (c.deviceId !== this.deviceId) return 'wrong_device';
    if (!signatureMatches(c as SignedCommand, this.key)) return 'bad_signature';
    if (this.answers.has(c.id)) return 'replayed_nonce'; // signed, but a known id with another nonce
    if (this.nonces.has(c.nonce)) return 'replayed_nonce';
    // A release is always taken, whatever this box's clock says: releasing is always safe, and a
    // box whose clock is wrong must not keep a machine locked.
    if (c.type !== 'release') {
      if (now >= (c.expiresAt as number)) return 'expired';
      if ((c.issuedAt as number) > now + MAX_CLOCK_AHEAD_MS) return 'not_yet_valid';
    }
    if (!(COMMAND_TYPES as readonly string[]).includes(c.type)) return 'unsupported';
    if (c.type === 'immobilize' && (c.issuedAt as number) <= this.releasedAt) return 'superseded';
    return null;
  }

  private refuse(id: string, reason: RefusalReason, now: number, remember: boolean): CommandAck {
    const ack: CommandAck = { v: 1, id, status: 'refused', reason, ts: now };
    // Refusals of a valid-looking id are remembered only when nothing was accepted under it.
    if (remember && id !== '' && reason !== 'bad_signature' && reason !== 'replayed_nonce')
      this.answers.set(id, ack);
    return ack;
  }

  private apply(c: SignedCommand, now: number, machine: MachineReading): CommandAck {
    switch (c.type) {
      case 'immobilize':
        this.relay.armed = true;
        this.armedUntil = c.expiresAt;
        this.events.push({ kind: 'armed', at: now });
        this.observe(machine, now);
        return { v: 1, id: c.id, status: 'accepted', ts: now };
      case 'release':
        if (this.relay.armed || this.relay.engaged) this.events.push({ kind: 'released', at: now });
        this.relay = { armed: false, engaged: false };
        this.releasedAt = Math.max(this.releasedAt, c.issuedAt);
        return { v: 1, id: c.id, status: 'accepted', ts: now };
      case 'warn':
        this.events.push({ kind: 'warned', at: now });
        return { v: 1, id: c.id, status: 'done', ts: now };
      case 'locate':
        this.events.push({ kind: 'located', at: now });
        return { v: 1, id: c.id, status: 'done', ts: now };
    }
  }

  /**
   * Called with every telemetry sample: an armed interrupt engages once the machine is stationary
   * with the ignition off, as read, never on a reading that lacks either. Returns whether the
   * ignition may be on (false once engaged).
   */
  observe(machine: MachineReading, now: number): boolean {
    if (this.relay.armed && !this.relay.engaged && now >= this.armedUntil) {
      // No command stays armed forever: one that has not engaged by its expiry is over.
      this.relay.armed = false;
      this.events.push({ kind: 'lapsed', at: now });
    }
    if (this.relay.armed && !this.relay.engaged && standsWithIgnitionOff(machine)) {
      this.relay.engaged = true;
      this.events.push({ kind: 'engaged', at: now });
    }
    return !this.relay.engaged;
  }
}
