/**
 * The box's side of remote commands (firmware model, pure): checks each command's signature,
 * device, counter and validity window; answers a repeat of a command it took with the same answer
 * without acting twice (also after a reboot: what must survive one is in BoxMemory); signs every
 * answer with the device key; and drives the starter interrupt. An immobilize ARMS the interrupt; it ENGAGES only
 * once the machine is stationary with the ignition off, and from then on the ignition is refused.
 * It never stops a running engine. A release disengages and disarms at once.
 */
import {
  type CommandAck,
  type RefusalReason,
  type SignedCommand,
  STATIONARY_KMH,
  signAck,
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

/**
 * What the box keeps in persistent storage (flash), so that a reboot forgets none of it: the relay
 * (a box that reboots while armed is still armed), the last command counter it accepted, the issue
 * time of the newest release it applied, and its answers to the last commands it accepted (so a
 * repeat still gets the same answer after a reboot). A test or a fleet keeps this object and hands
 * it to the box again after a simulated reboot.
 */
export interface BoxMemory {
  relay: RelayState;
  armedUntil: number;
  releasedAt: number;
  lastCounter: number;
  accepted: { id: string; sig: string; ack: CommandAck }[];
}

/** How many accepted answers the box keeps (a real box's flash is small). */
const KEPT_ANSWERS = 64;

export const emptyBoxMemory = (): BoxMemory => ({
  relay: { armed: false, engaged: false },
  armedUntil: Number.POSITIVE_INFINITY,
  releasedAt: Number.NEGATIVE_INFINITY,
  lastCounter: 0,
  accepted: [],
});

export class Immobilizer {
  /** Refusals, in RAM: lost at a reboot, which is harmless (a refusal changes nothing). */
  private answers = new Map<string, CommandAck>();
  readonly events: FirmwareEvent[] = [];

  constructor(
    private readonly deviceId: string,
    /** The device's command key, hex (provisioned with the box). */
    private readonly key: string,
    /** Persistent storage; survives `reboot()`. */
    readonly memory: BoxMemory = emptyBoxMemory(),
  ) {}

  get state(): RelayState {
    return { ...this.memory.relay };
  }

  /** Power off and on: RAM is lost, persistent storage is kept. */
  reboot(): void {
    this.answers = new Map();
  }

  /** Handles one message from the commands topic; always returns the ack to send, signed. */
  receive(message: unknown, now: number, machine: MachineReading): CommandAck {
    const c = message as Partial<SignedCommand> | null;
    const id = typeof c?.id === 'string' ? c.id : '';
    // A repeat (broker redelivery, dispatcher resend) of the very same command gets the same answer
    // and is not acted on again.
    const accepted = this.memory.accepted.find((a) => a.id === id && a.sig === c?.sig);
    if (accepted) return accepted.ack;
    const refusal = this.check(c, now);
    if (refusal) return this.refuse(id, refusal, now);
    const cmd = c as SignedCommand;
    this.memory.lastCounter = cmd.counter;
    const ack = signAck(this.apply(cmd, now, machine), this.key);
    this.memory.accepted = [...this.memory.accepted, { id: cmd.id, sig: cmd.sig, ack }].slice(-KEPT_ANSWERS);
    return ack;
  }

  private check(c: Partial<SignedCommand> | null, now: number): RefusalReason | null {
    if (!c) return 'malformed';
    if (
      c.v !== 2 ||
      typeof c.id !== 'string' ||
      c.id === '' ||
      typeof c.deviceId !== 'string' ||
      typeof c.type !== 'string' ||
      typeof c.nonce !== 'string' ||
      typeof c.sig !== 'string' ||
      !Number.isSafeInteger(c.counter) ||
      !Number.isSafeInteger(c.issuedAt) ||
      !Number.isSafeInteger(c.expiresAt)
    ) {
      return 'malformed';
    }
    if (c.deviceId !== this.deviceId) return 'wrong_device';
    if (!signatureMatches(c as SignedCommand, this.key)) return 'bad_signature';
    // Signed, but not newer than the last command taken: an old command, replayed (also after a
    // reboot, which forgot every id but not the counter).
    if ((c.counter as number) <= this.memory.lastCounter) return 'replayed';
    // A release is always taken, whatever this box's clock says: releasing is always safe, and a
    // box whose clock is wrong must not keep a machine locked.
    if (c.type !== 'release') {
      if (now >= (c.expiresAt as number)) return 'expired';
      if ((c.issuedAt as number) > now + MAX_CLOCK_AHEAD_MS) return 'not_yet_valid';
    }
    if (!(COMMAND_TYPES as readonly string[]).includes(c.type)) return 'unsupported';
    if (c.type === 'immobilize' && (c.issuedAt as number) <= this.memory.releasedAt) return 'superseded';
    return null;
  }

  private refuse(id: string, reason: RefusalReason, now: number): CommandAck {
    const known = this.answers.get(id);
    if (known && reason === 'replayed') return known; // the same refused command again
    const ack = signAck({ v: 1, id, status: 'refused', reason, ts: now }, this.key);
    // Refusals of a valid-looking id are remembered, so a repeat gets the same answer.
    if (id !== '' && reason !== 'bad_signature') this.answers.set(id, ack);
    return ack;
  }

  private apply(c: SignedCommand, now: number, machine: MachineReading): CommandAck {
    const m = this.memory;
    switch (c.type) {
      case 'immobilize':
        m.relay.armed = true;
        m.armedUntil = c.expiresAt;
        this.events.push({ kind: 'armed', at: now });
        this.observe(machine, now);
        return { v: 1, id: c.id, status: 'accepted', ts: now };
      case 'release':
        if (m.relay.armed || m.relay.engaged) this.events.push({ kind: 'released', at: now });
        m.relay = { armed: false, engaged: false };
        m.releasedAt = Math.max(m.releasedAt, c.issuedAt);
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
    const relay = this.memory.relay;
    if (relay.armed && !relay.engaged && now >= this.memory.armedUntil) {
      // No command stays armed forever: one that has not engaged by its expiry is over.
      relay.armed = false;
      this.events.push({ kind: 'lapsed', at: now });
    }
    if (relay.armed && !relay.engaged && standsWithIgnitionOff(machine)) {
      relay.engaged = true;
      this.events.push({ kind: 'engaged', at: now });
    }
    return !relay.engaged;
  }
}
