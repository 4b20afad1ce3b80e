/**
 * What the box does with commands inside the fleet runner: the starter interrupt (immobilizer.ts)
 * answers commands, and every report passes through it. While the interrupt is engaged the engine
 * cannot start: the report says ignition off, `rly: true`, and a machine the plan would have driven
 * stays where it stood (its engine hours stop too); carried on a trailer it still moves. After a
 * release the plan's position and hours come back (the plan does not know it was held, so the
 * machine may appear to jump once — a simplification of the model, not of the protocol).
 */
import type { CommandAck as ProtocolAck } from '../shared/commands.ts';
import { commandKeyFor } from '../shared/credentials.ts';
import type { Telemetry } from '../shared/protocol.ts';
import type { CommandAck, DeviceCommand } from './device.ts';
import { Immobilizer, type MachineReading } from './immobilizer.ts';

export class BoxFirmware {
  readonly immobilizer: Immobilizer;
  /** The last reading; unknown until the first report. */
  private last: MachineReading = { ign: null, spd: null };
  private held: { lat: number; lon: number; hrs: number | undefined } | null = null;

  constructor(deviceId: string, token: string) {
    this.immobilizer = new Immobilizer(deviceId, commandKeyFor(token));
  }

  /**
   * Answers a command from the commands topic; `now` is the box's real-time clock. `reading` is what
   * its inputs say at this moment, when the caller knows it (a real box reads them live); otherwise
   * the last report's reading.
   */
  onCommand(command: DeviceCommand, now: number, reading?: MachineReading): CommandAck {
    if (reading) this.last = reading;
    const ack: ProtocolAck = this.immobilizer.receive(command, now, this.last);
    return { ...ack, ok: ack.status !== 'refused' };
  }

  /** A report or a backlog array (newest first): the interrupt sees them in time order. */
  reportAll(payload: Telemetry | Telemetry[]): Telemetry | Telemetry[] {
    if (!Array.isArray(payload)) return this.report(payload);
    const byTime = payload.map((t, i) => ({ t, i })).sort((a, b) => a.t.ts - b.t.ts);
    const out = new Array<Telemetry>(payload.length);
    for (const { t, i } of byTime) out[i] = this.report(t);
    return out;
  }

  /** Passes one report through the interrupt; returns what the box actually reports. */
  report(t: Telemetry): Telemetry {
    // A report without ignition or speed is a box that does not know them: never read as "off".
    const planned: MachineReading = { ign: t.ign ?? null, spd: t.spd ?? null };
    const mayRun = this.immobilizer.observe(planned, t.ts);
    if (mayRun) {
      this.held = null;
      this.last = planned;
      return { ...t, rly: false };
    }
    const onTrailer = planned.ign !== true && (planned.spd ?? 0) >= 1;
    if (!this.held || onTrailer) this.held = { lat: t.lat, lon: t.lon, hrs: t.hrs };
    const out: Telemetry = onTrailer
      ? { ...t, ign: false, rly: true }
      : { ...t, ign: false, spd: 0, lat: this.held.lat, lon: this.held.lon, rly: true };
    if (this.held.hrs !== undefined) out.hrs = this.held.hrs;
    this.last = { ign: false, spd: out.spd ?? 0 };
    return out;
  }
}
