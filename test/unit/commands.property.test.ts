/**
 * Remote disable attacked by generated scenarios (fast-check) on a simulated clock: random account
 * histories (defaults, cures mid-flight), warning notices, requests, approvals and rejections by the
 * right and the wrong people, machine motion and ignition (working, driving, on a trailer), network
 * loss and reconnects, duplicated, forged, altered, expired and replayed messages. The platform side
 * is composed from the same pure parts the dispatcher uses (policy.evaluate, commands.nextStep,
 * stateAfterAck, executedByTelemetry, releaseNeeded, the signature) and the device side is the
 * firmware model (simulators/immobilizer.ts). Invariants:
 *  1. never EXECUTED (immobilize) unless the machine stood still with the ignition off — the starter
 *     interrupt engages only then, so a running or travelling machine is never stopped;
 *  2. never SENT without stage ≥ threshold, the warning period and a second risk manager's approval
 *     holding at that moment (checked against the world, not against the policy's own answer);
 *  3. a cured account's machine is released within 5 minutes of the device being reachable;
 *  4. every EXECUTED command has a complete, valid chain of transitions;
 *  5. forged, altered, expired and foreign messages are refused and change nothing on the machine;
 *  6. a box that cannot read the ignition or the speed (reports without them) never engages, and
 *     such a report confirms nothing: unknown is never "off".
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CommandAck,
  type CommandState,
  canTransition,
  executedByTelemetry,
  nextStep,
  releaseNeeded,
  type SignedCommand,
  signCommand,
  stateAfterAck,
  supersededByRelease,
  TERMINAL_STATES,
} from '../../shared/commands.ts';
import { type CommandType, evaluate, PROFILES } from '../../shared/policy.ts';
import type { Role } from '../../shared/roles.ts';
import { Immobilizer, type MachineReading, STATIONARY_KMH } from '../../simulators/immobilizer.ts';
import { type Mode, machineIn } from '../support/machine-modes.ts';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 10_000);
const HOUR = 3_600_000;
const TICK = 30_000;
const profile = PROFILES.default!;
const USERS: Record<string, Role[]> = {
  r1: ['risk_manager'],
  r2: ['risk_manager'],
  c1: ['collector'],
  system: [],
};
const DEVICE = 'SIM-000042';
const KEY = randomBytes(32).toString('hex');

type Event =
  | { e: 'advance'; ms: number }
  | { e: 'stage'; stage: number }
  | { e: 'promise'; pending: boolean }
  | { e: 'warn'; channel: string }
  | { e: 'request'; by: string; type: CommandType }
  | { e: 'approve'; by: string; which: number }
  | { e: 'reject'; by: string; which: number }
  | { e: 'machine'; mode: Mode }
  | { e: 'network'; online: boolean }
  | { e: 'sensors'; known: boolean }
  | { e: 'reboot' }
  | { e: 'duplicate'; which: number }
  | { e: 'forge'; which: number; how: 'sig' | 'alter' | 'expired' | 'device' | 'garbage' };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(5_000, 60_000, 600_000, HOUR, 26 * HOUR, 73 * HOUR)
      .map((ms) => ({ e: 'advance' as const, ms })),
  },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 }).map((stage) => ({ e: 'stage' as const, stage })) },
  { weight: 1, arbitrary: fc.boolean().map((pending) => ({ e: 'promise' as const, pending })) },
  {
    weight: 2,
    arbitrary: fc.constantFrom('sms', 'letter', 'phone').map((channel) => ({ e: 'warn' as const, channel })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      e: fc.constant('request' as const),
      by: fc.constantFrom('r1', 'r2'),
      type: fc.constantFrom<CommandType>('immobilize', 'immobilize', 'release', 'warn', 'locate'),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      e: fc.constant('approve' as const),
      by: fc.constantFrom('r1', 'r2', 'c1'),
      which: fc.nat(1),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      e: fc.constant('reject' as const),
      by: fc.constantFrom('r1', 'r2'),
      which: fc.nat(1),
    }),
  },
  {
    weight: 3,
    arbitrary: fc
      .constantFrom<Mode>('parked', 'working', 'driving', 'trailer')
      .map((mode) => ({ e: 'machine' as const, mode })),
  },
  { weight: 2, arbitrary: fc.boolean().map((online) => ({ e: 'network' as const, online })) },
  { weight: 1, arbitrary: fc.boolean().map((known) => ({ e: 'sensors' as const, known })) },
  { weight: 1, arbitrary: fc.constant({ e: 'reboot' as const }) },
  { weight: 1, arbitrary: fc.nat(3).map((which) => ({ e: 'duplicate' as const, which })) },
  {
    weight: 1,
    arbitrary: fc.record({
      e: fc.constant('forge' as const),
      which: fc.nat(5),
      how: fc.constantFrom<'sig' | 'alter' | 'expired' | 'device' | 'garbage'>(
        'sig',
        'alter',
        'expired',
        'device',
        'garbage',
      ),
    }),
  },
);

interface Cmd {
  id: string;
  type: CommandType;
  state: CommandState;
  requestedBy: string;
  approvals: { by: string; roles: Role[]; at: number }[];
  expiresAt: number;
  attempts: number;
  lastSentAt: number | null;
  signed: SignedCommand | null;
  createdAt: number;
  seq: number;
  chain: CommandState[];
}

class World {
  now = Date.parse('2026-03-01T00:00:00Z');
  stage = 3;
  pendingPromise = false;
  warnings: { at: number; channel: string }[] = [];
  mode: Mode = 'parked';
  online = true;
  onlineSince = this.now;
  reconnected = false;
  inbox: unknown[] = [];
  outbox: CommandAck[] = [];
  device = new Immobilizer(DEVICE, KEY);
  commands: Cmd[] = [];
  lastHeardAt: number | null = null;
  cureAt: number | null = null;
  /** When the account last fell below the threshold; warnings before it no longer count. */
  lastCureAt: number | null = null;
  nextId = 1;
  /** The device's command counter, as the platform takes it at each first send. */
  nextCounter = 1;
  violations: string[] = [];

  /** Whether the box reads the ignition and the speed; when not, its reports lack them. */
  sensorsKnown = true;

  /** What the box reads of the machine. */
  reading(): MachineReading {
    return this.sensorsKnown ? this.machine() : { ign: null, spd: null };
  }

  machine(): { ign: boolean; spd: number } {
    return machineIn(this.mode, this.device.state.engaged);
  }

  context(c: Cmd) {
    return {
      now: this.now,
      profile,
      account: {
        stage: this.stage,
        openDispute: false,
        disputeOverride: null,
        pendingPromise: this.pendingPromise,
        curedAt: this.lastCureAt,
      },
      warnings: this.warnings,
      approvals: c.approvals,
      device: { lastHeardAt: this.lastHeardAt },
    };
  }

  move(c: Cmd, to: CommandState) {
    if (!canTransition(c.state, to)) this.violations.push(`illegal transition ${c.state} → ${to}`);
    c.state = to;
    c.chain.push(to);
  }

  create(type: CommandType, by: string): Cmd {
    const live = this.commands.find(
      (c) => c.type === 'immobilize' && !TERMINAL_STATES.has(c.state) && type === 'immobilize',
    );
    const c: Cmd = {
      id: `cmd-${this.nextId++}`,
      type,
      state: 'REQUESTED',
      requestedBy: by,
      approvals: [],
      expiresAt: this.now + profile.commandTtlMinutes * 60_000,
      attempts: 0,
      lastSentAt: null,
      signed: null,
      createdAt: this.now,
      seq: this.nextId,
      chain: ['REQUESTED'],
    };
    if (live) {
      c.state = 'REJECTED'; // at most one live immobilize per device
      c.chain.push('REJECTED');
    } else if (evaluate({ type, requestedBy: by }, this.context(c)).decision === 'deny') {
      c.state = 'REJECTED';
      c.chain.push('REJECTED');
    }
    if (type === 'release' && c.state === 'REQUESTED') {
      for (const other of this.commands) {
        const to = supersededByRelease(other.state, other.type);
        if (to) this.move(other, to);
      }
    }
    this.commands.push(c);
    return c;
  }

  deliver(message: unknown) {
    if (!this.online) {
      this.inbox.push(message); // the broker keeps it for the persistent session
      return;
    }
    this.outbox.push(this.device.receive(message, this.now, this.reading()));
  }

  send(c: Cmd) {
    // Invariant 2, against the world itself.
    if (c.type === 'immobilize') {
      // Warnings recorded at least 72 h ago, within the last 30 days, and since the last cure.
      const old = new Set(
        this.warnings
          .filter((w) => w.at <= this.now - profile.warningHours * HOUR)
          .filter((w) => w.at > this.now - 30 * 24 * HOUR)
          .filter((w) => this.lastCureAt === null || w.at > this.lastCureAt)
          .map((w) => w.channel),
      );
      const second = c.approvals.some((a) => a.by !== c.requestedBy && a.roles.includes('risk_manager'));
      if (this.stage < profile.minStage) this.violations.push(`${c.id} sent at stage ${this.stage}`);
      if (old.size < profile.warningChannels)
        this.violations.push(`${c.id} sent with ${old.size} warning channels matured`);
      if (!second) this.violations.push(`${c.id} sent without a second approver`);
      if (this.pendingPromise) this.violations.push(`${c.id} sent with a promise pending`);
    }
    if (!c.signed) {
      c.signed = signCommand(
        {
          id: c.id,
          deviceId: DEVICE,
          type: c.type,
          counter: this.nextCounter++,
          issuedAt: this.now,
          expiresAt: c.expiresAt,
          nonce: randomBytes(16).toString('hex'),
        },
        KEY,
      );
    }
    if (c.state === 'QUEUED') this.move(c, 'SENT');
    c.attempts++;
    c.lastSentAt = this.now;
    this.deliver(c.signed);
  }

  tick() {
    // The box: physics, the interrupt, telemetry.
    const wasEngaged = this.device.state.engaged;
    const m = this.machine();
    const read = this.reading();
    this.device.observe(read, this.now);
    if (!wasEngaged && this.device.state.engaged && (m.ign || m.spd >= STATIONARY_KMH)) {
      this.violations.push(`interrupt engaged while ign=${m.ign} spd=${m.spd}`);
    }
    if (!wasEngaged && this.device.state.engaged && (read.ign === null || read.spd === null)) {
      this.violations.push('interrupt engaged on a reading without ignition or speed');
    }
    if (this.online) {
      for (const message of this.inbox.splice(0))
        this.outbox.push(this.device.receive(message, this.now, this.reading()));
      this.lastHeardAt = this.now;
      const sample = { ...this.reading(), rly: this.device.state.engaged };
      // The platform: acks, then telemetry evidence.
      for (const ack of this.outbox.splice(0)) {
        const c = this.commands.find((x) => x.id === ack.id);
        const to = c ? stateAfterAck(c.state, ack, c.type) : null;
        if (c && to) this.move(c, to);
      }
      for (const c of this.commands) {
        if (executedByTelemetry(c.type, c.state, sample)) {
          const truth = this.machine();
          if (c.type === 'immobilize' && (truth.ign || truth.spd >= STATIONARY_KMH)) {
            this.violations.push(`${c.id} EXECUTED while ign=${truth.ign} spd=${truth.spd}`);
          }
          if (c.type === 'immobilize' && (sample.ign === null || sample.spd === null)) {
            this.violations.push(`${c.id} EXECUTED on a report without ignition or speed`);
          }
          this.move(c, 'EXECUTED');
        }
      }
    }
    // Invariant 7: once the box has taken a release newer than every immobilize sent, nothing
    // old (replayed, after a reboot or not) arms it again.
    const sentRelay = this.commands.filter(
      (x) => x.signed && (x.type === 'immobilize' || x.type === 'release'),
    );
    const newest = sentRelay.sort((x, y) => (x.signed?.counter ?? 0) - (y.signed?.counter ?? 0)).at(-1);
    if (
      newest?.type === 'release' &&
      (newest.state === 'ACKED' || newest.state === 'EXECUTED') &&
      this.device.state.armed
    )
      this.violations.push(`armed after release ${newest.id} was taken (a replay)`);
    // Release on cure.
    if (releaseNeeded(this.commands, this.stage, profile.minStage)) this.create('release', 'system');
    // The dispatcher.
    for (const c of this.commands) {
      if (TERMINAL_STATES.has(c.state)) continue;
      const ev = evaluate({ type: c.type, requestedBy: c.requestedBy }, this.context(c));
      const step = nextStep(c, ev, this.now, this.reconnected);
      if (step.kind === 'expire') this.move(c, 'EXPIRED');
      else if (step.kind === 'cancel') this.move(c, 'CANCELLED');
      else if (step.kind === 'queue') this.move(c, 'QUEUED');
      else if (step.kind === 'send') this.send(c);
    }
    this.reconnected = false;
    // Invariant 3.
    if (this.stage < profile.minStage && this.device.state.armed && this.online && this.cureAt !== null) {
      const since = Math.max(this.cureAt, this.onlineSince);
      if (this.now - since > 5 * 60_000)
        this.violations.push(`still armed ${(this.now - since) / 60_000} min after cure`);
    }
  }

  advance(ms: number) {
    const end = this.now + ms;
    // Tick every 30 s for the first 15 minutes of a quiet spell; nothing in the world changes after
    // that but the clock, so the rest is one jump (expiries and matured warnings apply at its end).
    let ticks = 0;
    while (this.now < end) {
      this.now = ticks < 30 ? Math.min(end, this.now + TICK) : end;
      ticks++;
      this.tick();
    }
  }

  apply(ev: Event) {
    switch (ev.e) {
      case 'advance':
        return this.advance(ev.ms);
      case 'stage':
        if (this.stage >= profile.minStage && ev.stage < profile.minStage) {
          this.cureAt = this.now;
          this.lastCureAt = this.now;
        }
        if (ev.stage >= profile.minStage) this.cureAt = null;
        this.stage = ev.stage;
        return;
      case 'promise':
        this.pendingPromise = ev.pending;
        return;
      case 'warn':
        this.warnings.push({ at: this.now, channel: ev.channel });
        return;
      case 'request':
        this.create(ev.type, ev.by);
        return;
      case 'approve': {
        const c = this.commands.filter((x) => x.state === 'REQUESTED' && x.type === 'immobilize')[ev.which];
        // The API refuses an approval by the requester or by someone who is not a risk manager.
        if (!c || ev.by === c.requestedBy || !USERS[ev.by]!.includes('risk_manager')) return;
        c.approvals.push({ by: ev.by, roles: USERS[ev.by]!, at: this.now });
        const verdict = evaluate({ type: c.type, requestedBy: c.requestedBy }, this.context(c));
        this.move(c, verdict.decision === 'deny' ? 'REJECTED' : 'APPROVED');
        return;
      }
      case 'reject': {
        const c = this.commands.filter((x) => x.state === 'REQUESTED')[ev.which];
        if (c && ev.by !== c.requestedBy) this.move(c, 'REJECTED');
        return;
      }
      case 'machine':
        this.mode = ev.mode;
        return;
      case 'sensors':
        this.sensorsKnown = ev.known;
        return;
      case 'reboot':
        this.device.reboot(); // RAM lost, persistent storage kept
        return;
      case 'network':
        if (ev.online && !this.online) {
          this.onlineSince = this.now;
          this.reconnected = true;
        }
        this.online = ev.online;
        return;
      case 'duplicate': {
        const c = this.commands.filter((x) => x.signed)[ev.which];
        if (c?.signed) this.deliver(c.signed);
        return;
      }
      case 'forge': {
        const c = this.commands.filter((x) => x.signed)[ev.which];
        const base: SignedCommand =
          c?.signed ??
          signCommand(
            {
              id: 'forged',
              deviceId: DEVICE,
              type: 'immobilize',
              counter: 1,
              issuedAt: this.now,
              expiresAt: this.now + HOUR,
              nonce: 'ab'.repeat(16),
            },
            'ff'.repeat(32),
          );
        const forged: unknown =
          ev.how === 'sig'
            ? { ...base, id: `f-${this.nextId++}`, type: 'immobilize', sig: 'ab'.repeat(32) }
            : ev.how === 'alter'
              ? {
                  ...base,
                  id: `f-${this.nextId++}`,
                  type: base.type === 'immobilize' ? 'release' : 'immobilize',
                }
              : ev.how === 'expired'
                ? signCommand(
                    {
                      ...base,
                      id: `f-${this.nextId++}`,
                      nonce: randomBytes(16).toString('hex'),
                      issuedAt: this.now - 2 * HOUR,
                      expiresAt: this.now - HOUR,
                    },
                    KEY,
                  )
                : ev.how === 'device'
                  ? signCommand(
                      {
                        ...base,
                        id: `f-${this.nextId++}`,
                        deviceId: 'SIM-000043',
                        nonce: randomBytes(16).toString('hex'),
                      },
                      KEY,
                    )
                  : 'not json at all';
        const before = this.device.state;
        const ack = this.device.receive(forged, this.now, this.reading());
        // A genuine but expired release may be taken: releasing is always safe, whatever the box's
        // clock says. It may only ever disarm.
        const staleRelease = ev.how === 'expired' && base.type === 'release';
        if (staleRelease) {
          if (ack.status !== 'refused' && (this.device.state.armed || this.device.state.engaged))
            this.violations.push('an expired release left the relay armed');
          if (ack.status === 'refused' && JSON.stringify(this.device.state) !== JSON.stringify(before))
            this.violations.push('a refused release changed the relay');
          return;
        }
        if (ack.status !== 'refused') this.violations.push(`forged (${ev.how}) command accepted`);
        if (JSON.stringify(this.device.state) !== JSON.stringify(before))
          this.violations.push(`forged (${ev.how}) command changed the relay`);
        return;
      }
    }
  }

  finalChecks() {
    for (const c of this.commands) {
      if (c.state !== 'EXECUTED') continue;
      for (let i = 1; i < c.chain.length; i++) {
        if (!canTransition(c.chain[i - 1]!, c.chain[i]!))
          this.violations.push(`${c.id} chain broken at ${c.chain.join('→')}`);
      }
      if (c.chain[0] !== 'REQUESTED') this.violations.push(`${c.id} chain does not start at REQUESTED`);
      if (c.type === 'immobilize' && !c.chain.includes('APPROVED'))
        this.violations.push(`${c.id} EXECUTED without approval`);
      if (c.type === 'immobilize' && !c.chain.includes('SENT'))
        this.violations.push(`${c.id} EXECUTED without being sent`);
    }
  }
}

const WARNED: Event[] = [
  { e: 'warn', channel: 'sms' },
  { e: 'warn', channel: 'letter' },
  { e: 'advance', ms: 73 * HOUR },
];
const PREFIXES: Event[][] = [
  [],
  WARNED,
  [...WARNED, { e: 'request', by: 'r1', type: 'immobilize' }, { e: 'approve', by: 'r2', which: 0 }],
];

describe('remote disable under generated scenarios', () => {
  it(`holds its invariants over ${RUNS} scenarios`, () => {
    let executed = 0;
    let released = 0;
    fc.assert(
      fc.property(fc.nat(2), fc.array(eventArb, { minLength: 5, maxLength: 40 }), (prefix, events) => {
        const w = new World();
        // A third of the scenarios start from nothing; a third with the warnings served and matured;
        // a third with that and an approved request as well — so that many reach the machine.
        for (const ev of PREFIXES[prefix]!) w.apply(ev);
        for (const ev of events) w.apply(ev);
        w.advance(10 * 60_000);
        w.finalChecks();
        executed += w.commands.filter((c) => c.type === 'immobilize' && c.state === 'EXECUTED').length;
        released += w.device.events.filter((e) => e.kind === 'released').length;
        expect(w.violations).toEqual([]);
      }),
      { numRuns: RUNS, seed: Number(process.env.PROPERTY_SEED ?? Date.now() % 2 ** 31) },
    );
    console.log(
      `${RUNS} scenarios: ${executed} immobilizes executed, ${released} releases applied on the machine`,
    );
    // The scenarios must actually reach the interesting states, or the invariants prove nothing.
    expect(executed).toBeGreaterThan(RUNS / 200);
    expect(released).toBeGreaterThan(RUNS / 200);
  }, 600_000);

  it('a scripted happy path reaches EXECUTED only after the machine stops, and a cure releases it', () => {
    const w = new World();
    w.apply({ e: 'warn', channel: 'sms' });
    w.apply({ e: 'warn', channel: 'letter' });
    w.apply({ e: 'advance', ms: 73 * HOUR });
    w.apply({ e: 'machine', mode: 'working' });
    w.apply({ e: 'request', by: 'r1', type: 'immobilize' });
    w.apply({ e: 'approve', by: 'r1', which: 0 }); // the requester cannot approve
    expect(w.commands[0]!.state).toBe('REQUESTED');
    w.apply({ e: 'approve', by: 'r2', which: 0 });
    w.apply({ e: 'advance', ms: 90_000 });
    expect(w.commands[0]!.state).toBe('ACKED');
    expect(w.device.state).toEqual({ armed: true, engaged: false });
    w.apply({ e: 'advance', ms: HOUR });
    expect(w.commands[0]!.state).toBe('ACKED'); // still working: never stopped
    w.apply({ e: 'machine', mode: 'parked' });
    w.apply({ e: 'advance', ms: 90_000 });
    expect(w.commands[0]!.state).toBe('EXECUTED');
    w.apply({ e: 'machine', mode: 'working' });
    w.apply({ e: 'advance', ms: 60_000 });
    expect(w.machine()).toEqual({ ign: false, spd: 0 }); // the starter is cut
    w.apply({ e: 'stage', stage: 0 });
    w.apply({ e: 'advance', ms: 5 * 60_000 });
    expect(w.device.state).toEqual({ armed: false, engaged: false });
    expect(w.commands.at(-1)).toMatchObject({ type: 'release', requestedBy: 'system', state: 'EXECUTED' });
    expect(w.violations).toEqual([]);
  });
});
