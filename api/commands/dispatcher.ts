/**
 * The command outbox. All state is in the database, so an api restart loses nothing: on every tick
 * (and at once when something happens — an approval, an ack, a device coming back) it moves open
 * commands along as shared/commands.ts says, asking the policy again before every send; publishes
 * them QoS 1 to `devices/{id}/commands`, resending with backoff until acknowledged or expired;
 * turns acks and telemetry into ACKED / EXECUTED / FAILED; releases machines whose account was
 * cured; and re-arms after an emergency release's window.
 *
 * Several api nodes may run it: each command is handled under its row lock (`skip locked`), and a
 * resend is harmless (the box answers a repeat without acting twice).
 */
import type { Logger } from 'pino';
import { alertsById } from '../../db/alerts.ts';
import type { Database } from '../../db/client.ts';
import type { AlertView } from '../../shared/alerts.ts';
import type { PolicyProfile } from '../../shared/policy.ts';
import { parseTopic, topics } from '../../shared/protocol.ts';
import { raiseDecisionsDue } from './decisions.ts';
import {
  advanceCommand,
  applyAck,
  confirmByTelemetry,
  type Publication,
  readAck,
  rearm,
  releaseCured,
  type StepContext,
} from './dispatch-steps.ts';
import type { CommandFeed } from './feed.ts';
import { profileNamed } from './service.ts';
import { dueCommandIds } from './store.ts';

/** What the dispatcher needs of its broker connection (an mqtt.js client, or a test's network). */
export interface CommandLink {
  on(event: 'message', listener: (topic: string, payload: Buffer) => void): unknown;
  off(event: 'message', listener: (topic: string, payload: Buffer) => void): unknown;
  subscribe(topics: string[], options: { qos: 1 }): unknown;
  publishAsync(topic: string, payload: string, options: { qos: 1 }): Promise<unknown>;
}

export interface DispatcherOptions {
  db: Database;
  mqtt: CommandLink;
  feed: CommandFeed;
  profile: PolicyProfile;
  logger: Logger;
  now?: () => number;
  tickMs?: number;
  /** Told of alerts the dispatcher raised or cleared (a GPS stop's decision due): the live feed. */
  onAlerts?: (alerts: AlertView[]) => void;
}

export interface Dispatcher {
  /** Runs a full pass soon. */
  kick(): void;
  /** Moves one command along now (after a request or an approval): no waiting for the next tick. */
  dispatchNow(id: string): Promise<void>;
  /** One full pass now, after the acks already received are applied; resolves when done (tests). */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

export function startDispatcher(o: DispatcherOptions): Dispatcher {
  const now = o.now ?? Date.now;
  const reconnected = new Set<string>();
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  /** Acks being applied: a pass and stop() wait for them. */
  const applying = new Set<Promise<void>>();
  const steps: StepContext = {
    db: o.db,
    feed: o.feed,
    now,
    failed: (err, where) => o.logger.error({ err, ...where }, 'command step failed; the others go on'),
  };

  const onMessage = (topic: string, payload: Buffer) => {
    const t = parseTopic(topic);
    if (!t) return;
    if (t.kind === 'status' && payload.toString() === 'online') {
      reconnected.add(t.deviceId);
      kick();
    } else if (t.kind === 'ack') {
      const p = handleAck(t.deviceId, payload)
        .catch((e) => o.logger.error({ err: e }, 'command ack failed'))
        .finally(() => applying.delete(p));
      applying.add(p);
    }
  };
  o.mqtt.on('message', onMessage);
  o.mqtt.subscribe([topics.allAcks, 'devices/+/status'], { qos: 1 });

  async function handleAck(deviceId: string, payload: Buffer): Promise<void> {
    const ack = readAck(payload);
    if (!ack) {
      o.logger.warn({ deviceId, payload: payload.toString('utf8').slice(0, 200) }, 'unreadable command ack');
      return;
    }
    await applyAck(steps, deviceId, ack);
  }

  /** Moves one open command as far as it goes now and publishes it if it is to be sent. */
  async function advance(id: string, back: ReadonlySet<string> = reconnected): Promise<void> {
    const publication = await advanceCommand(steps, id, back);
    if (publication) await publish(publication);
  }

  // Published after the commit: a crash in between means a resend later, never a send unrecorded.
  async function publish({ topic, payload }: Publication): Promise<void> {
    await o.mqtt.publishAsync(topic, payload, { qos: 1 }).catch((e: Error) => {
      o.logger.warn({ err: e.message, topic }, 'command publish failed; it will be resent');
    });
  }

  async function pass(): Promise<void> {
    await confirmByTelemetry(steps);
    await releaseCured(steps, o.profile);
    await rearm(steps);
    const decisions = await raiseDecisionsDue(o.db, o.feed, profileNamed, now());
    if (decisions.length > 0) o.onAlerts?.(await alertsById(o.db, decisions));
    const back = new Set(reconnected);
    const ids = await dueCommandIds(o.db, now(), [...back]);
    for (const d of back) reconnected.delete(d);
    for (const id of ids) {
      // One command's failure never delays another's.
      await advance(id, back).catch((e) => o.logger.error({ err: e, id }, 'command dispatch failed'));
    }
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = pass()
      .catch((e) => o.logger.error({ err: e }, 'command dispatch pass failed'))
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          kick();
        }
      });
  }

  const timer = setInterval(kick, o.tickMs ?? 2_000);
  timer.unref();
  kick();

  return {
    kick,
    dispatchNow: (id) => advance(id).catch((e) => o.logger.error({ err: e, id }, 'command dispatch failed')),
    async pass() {
      while (running || applying.size > 0) await Promise.all([running, ...applying]);
      await pass();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      o.mqtt.off('message', onMessage);
      while (running || applying.size > 0) await Promise.all([running, ...applying]);
    },
  };
}
