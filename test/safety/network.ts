/**
 * The network between the platform and one box, as the campaign attacks it: the dispatcher's
 * broker link on one side, the box on the other, and in between a broker that may lose, repeat,
 * hold back and reorder messages, restart (losing what it held in flight), and keep QoS 1 messages
 * for a box that is away until it comes back (its persistent session). Deterministic: what happens
 * to a message depends only on the fault in force, never on chance, so fast-check can replay and
 * shrink a run.
 */
import type { CommandLink } from '../../api/commands/dispatcher.ts';
import { parseTopic } from '../../shared/protocol.ts';

/**
 * What the link does to messages now: `drop` loses every other one, `duplicate` delivers each twice,
 * `delay` holds each back until the next step, `reorder` holds them and delivers the newest first.
 */
export type Fault = 'none' | 'drop' | 'duplicate' | 'delay' | 'reorder';

type Listener = (topic: string, payload: Buffer) => void;

interface InFlight {
  topic: string;
  payload: string;
  /** Simulated time it was published. */
  at: number;
}

export class Network {
  fault: Fault = 'none';
  /** Whether the box is connected (a disabled device is refused by the broker, so never). */
  boxOnline = true;
  private listeners = new Set<Listener>();
  private toBox: InFlight[] = [];
  private toPlatform: InFlight[] = [];
  private held: { to: 'box' | 'platform'; m: InFlight }[] = [];
  private dropNext = false;

  constructor(
    private readonly now: () => number,
    /** The box: gets each command with its publish time; answers are published with `fromBox`. */
    private readonly box: (topic: string, payload: string, publishedAt: number) => void,
  ) {}

  /** The dispatcher's side of the broker. */
  readonly link: CommandLink = {
    on: (_event, listener) => this.listeners.add(listener),
    off: (_event, listener) => this.listeners.delete(listener),
    subscribe: () => undefined,
    publishAsync: async (topic, payload) => {
      this.send('box', { topic, payload, at: this.now() });
    },
  };

  /** The box publishes (an ack, its status, a report for ingest). */
  fromBox(topic: string, payload: string): void {
    if (!this.boxOnline) return; // a box that is not connected cannot publish
    this.send('platform', { topic, payload, at: this.now() });
  }

  private send(to: 'box' | 'platform', m: InFlight): void {
    switch (this.fault) {
      case 'drop':
        this.dropNext = !this.dropNext;
        if (this.dropNext) return;
        break;
      case 'duplicate':
        this.queue(to).push(m, m);
        return;
      case 'delay':
      case 'reorder':
        this.held.push({ to, m });
        return;
    }
    this.queue(to).push(m);
  }

  private queue(to: 'box' | 'platform'): InFlight[] {
    return to === 'box' ? this.toBox : this.toPlatform;
  }

  /** Lets the messages held back go (newest first when reordering). */
  releaseHeld(): void {
    const held = this.fault === 'reorder' ? this.held.reverse() : this.held;
    this.held = [];
    for (const { to, m } of held) this.queue(to).push(m);
  }

  /** A broker restart: everything in flight or held is lost. The box's session is kept on disk. */
  restartBroker(): void {
    this.toPlatform = [];
    this.held = [];
    // QoS 1 messages queued for the box: a broker without persistence loses them.
    this.toBox = [];
  }

  /** Delivers what can be delivered now; returns how many messages went through. */
  deliver(): number {
    let n = 0;
    // Messages for a box that is away wait in its session.
    if (this.boxOnline) {
      while (this.toBox.length > 0) {
        const m = this.toBox.shift() as InFlight;
        this.box(m.topic, m.payload, m.at);
        n++;
      }
    }
    while (this.toPlatform.length > 0) {
      const m = this.toPlatform.shift() as InFlight;
      const t = parseTopic(m.topic);
      if (t?.kind === 'telemetry') this.onTelemetry?.(m.topic, m.payload);
      else for (const l of this.listeners) l(m.topic, Buffer.from(m.payload));
      n++;
    }
    return n;
  }

  /** Where reports go (ingest); set by the rig. */
  onTelemetry: ((topic: string, payload: string) => void) | null = null;

  /** Whether a message to or from the box can be lost or held now. */
  get faithful(): boolean {
    return this.boxOnline && (this.fault === 'none' || this.fault === 'duplicate');
  }
}
