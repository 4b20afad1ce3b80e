/**
 * Runs a simulated fleet against a broker: one SimDevice per machine, connected a few at a time
 * so two thousand boxes do not hit the broker in the same millisecond, each publishing its first
 * report as soon as it is connected and then whatever the model says at `speed` x real time.
 *
 * The simulated clock never runs ahead of the wall clock (the platform rejects reports more than
 * 5 minutes in the future). To run faster than real time, start the fleet in the past: at speed
 * 60 a fleet started 7 days ago catches up with now after about 2.8 hours and then carries on at
 * real time.
 */
import { type CommandAck, type DeviceCommand, SimDevice } from './device.ts';
import { BoxFirmware } from './firmware.ts';
import { type SimLogger, silentLogger } from './log.ts';
import type { SimMachine } from './machine.ts';

export interface RunFleetOptions {
  mqttUrl: string;
  machines: SimMachine[];
  /** Simulated seconds per real second; 1 for the live demo. */
  speed: number;
  /** Simulated time at launch, epoch ms. Default: where the machines are (their `now`). */
  startTime?: number;
  logger?: SimLogger;
  protocolVersion?: 4 | 5;
  /** Most devices in the middle of connecting at once. Default 50. */
  connectConcurrency?: number;
  /** How often the model is asked for due reports. Default 200 ms. */
  tickMs?: number;
  /** Wall clock, for tests. */
  now?: () => number;
  /** Replaces the box firmware's command handling (tests); default: BoxFirmware (firmware.ts). */
  onCommand?: (machine: SimMachine, command: DeviceCommand) => CommandAck | Promise<CommandAck>;
}

export interface FleetStats {
  devices: number;
  /** Connected right now. */
  connected: number;
  /** Connected at least once since launch. */
  started: number;
  /** Telemetry messages published (a backlog array counts once) and the reports in them. */
  messages: number;
  reports: number;
  backlogMessages: number;
  /** Reports waiting in device buffers for a connection. */
  buffered: number;
  /** Simulated network losses (coverage gaps, reboots, power cuts) so far. */
  simulatedDrops: number;
  /** Boxes that will never report again (the story machine after its power cut). */
  silent: number;
  commands: number;
  errors: number;
  /** The latest connection error any device saw, e.g. "Connection refused: Not authorized". */
  lastError: string | null;
  /** Simulated time now, epoch ms. */
  simTime: number;
  wallElapsedMs: number;
}

export interface FleetRun {
  /** Resolves once every device has connected at least once (never rejects). */
  readonly ready: Promise<void>;
  stats(): FleetStats;
  /** Disconnects every device cleanly (status `offline`, no last will). */
  stop(): Promise<void>;
}

const BROKER_PROTOCOLS = ['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'ws:', 'wss:'];

interface Slot {
  machine: SimMachine;
  firmware: BoxFirmware;
  device: SimDevice;
  started: boolean;
  /** Frees this device's place in the connect queue. */
  release: () => void;
}

export function runFleet(options: RunFleetOptions): FleetRun {
  const { machines, speed } = options;
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError('speed must be a positive number');
  // A bad URL is a configuration mistake: say so now rather than from inside 2000 clients.
  if (!URL.canParse(options.mqttUrl) || !BROKER_PROTOCOLS.includes(new URL(options.mqttUrl).protocol)) {
    throw new RangeError(`mqttUrl must look like mqtt://host:1883 (got "${options.mqttUrl}")`);
  }
  const log = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const wall0 = now();
  const sim0 = options.startTime ?? Math.min(...machines.map((m) => m.now + 1));
  // Never further ahead of the wall clock than at launch: a fleet started in the past stops
  // at "now" once it has caught up instead of running into the future.
  const lead = Math.max(0, sim0 - wall0);
  let caughtUp = false;
  const simNow = () => {
    const wanted = sim0 + (now() - wall0) * speed;
    const cap = now() + lead;
    if (wanted > cap && !caughtUp) {
      caughtUp = true;
      log.info({ speed }, 'simulated clock caught up with the wall clock; continuing at real time');
    }
    return Math.min(wanted, cap);
  };

  // A fleet created earlier than startTime skips ahead silently: those reports are history.
  for (const m of machines) if (m.now < sim0 - 1) m.advance(sim0 - 1);

  let simulatedDrops = 0;
  let lastError: string | null = null;
  let stopped = false;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  let startedCount = 0;

  const slots: Slot[] = machines.map((machine, i) => {
    const slot: Slot = {
      machine,
      firmware: new BoxFirmware(machine.identity.deviceId, machine.identity.token),
      started: false,
      device: undefined as unknown as SimDevice,
      release: () => {},
    };
    slot.device = new SimDevice({
      deviceId: machine.identity.deviceId,
      token: machine.identity.token,
      mqttUrl: options.mqttUrl,
      protocolVersion: options.protocolVersion,
      // Spread reconnects over 2-7 s so a broker restart is not met by the whole fleet at once.
      reconnectPeriodMs: 2000 + ((i * 7919) % 5000),
      onCommand: (command) =>
        options.onCommand ? options.onCommand(machine, command) : slot.firmware.onCommand(command, now()),
      onConnect: () => {
        if (!slot.started) {
          slot.started = true;
          slot.release();
          startedCount++;
          if (startedCount === slots.length) {
            log.info({ devices: slots.length, seconds: (now() - wall0) / 1000 }, 'fleet connected');
            resolveReady();
          }
        }
        pump(slot);
      },
      logger: {
        ...silentLogger,
        warn: (obj) => {
          lastError = String((obj as { err?: unknown }).err ?? 'unknown error');
        },
      },
    });
    return slot;
  });
  if (slots.length === 0) resolveReady();

  function pump(slot: Slot): void {
    if (stopped || !slot.started) return;
    try {
      for (const e of slot.machine.advance(simNow())) {
        if (e.kind === 'telemetry') {
          slot.device.publishTelemetry(slot.firmware.reportAll(e.payload));
        } else if (e.up) {
          slot.device.restoreLink();
        } else {
          simulatedDrops++;
          slot.device.dropLink();
        }
      }
    } catch (err) {
      log.error(
        { deviceId: slot.machine.identity.deviceId, err: (err as Error).message },
        'simulation step failed',
      );
    }
  }

  // Connect a few at a time; a slot frees up on connection or after 10 s, so an unreachable
  // broker is retried by a bounded number of devices instead of the whole fleet.
  const concurrency = Math.max(1, options.connectConcurrency ?? 50);
  let nextToConnect = 0;
  const connectNext = () => {
    if (stopped || nextToConnect >= slots.length) return;
    const slot = slots[nextToConnect++]!;
    let released = false;
    const timer = setTimeout(() => slot.release(), 10_000);
    slot.release = () => {
      if (released) return;
      released = true;
      clearTimeout(timer);
      connectNext();
    };
    slot.device.start();
  };
  for (let i = 0; i < concurrency; i++) connectNext();

  const ticker = setInterval(
    () => {
      for (const slot of slots) pump(slot);
    },
    Math.max(10, options.tickMs ?? 200),
  );

  let lastWarn = 0;
  const watchdog = setInterval(() => {
    const connected = slots.filter((s) => s.device.connected).length;
    if (connected < slots.length && lastError && now() - lastWarn > 30_000) {
      lastWarn = now();
      log.warn({ connected, devices: slots.length, lastError }, 'devices not connected; retrying');
    }
  }, 5000);

  return {
    ready,
    stats(): FleetStats {
      const totals = { messages: 0, reports: 0, backlogMessages: 0, buffered: 0, commands: 0, errors: 0 };
      let connected = 0;
      for (const s of slots) {
        const d = s.device.stats();
        if (s.device.connected) connected++;
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += d[k];
      }
      return {
        devices: slots.length,
        connected,
        started: startedCount,
        ...totals,
        simulatedDrops,
        silent: slots.filter((s) => !s.machine.alive).length,
        lastError,
        simTime: simNow(),
        wallElapsedMs: now() - wall0,
      };
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      for (const s of slots) s.release();
      clearInterval(ticker);
      clearInterval(watchdog);
      await Promise.all(slots.map((s) => s.device.stop()));
      resolveReady();
    },
  };
}
