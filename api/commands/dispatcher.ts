/**
 * The command outbox. All state is in the database, so an api restart loses nothing: on every tick
 * (and at once when something happens — an approval, an ack, a device coming back) it moves open
 * commands along as shared/commands.ts says, asking the policy again before every send; publishes
 * them QoS 1 to `devices/{id}/commands`, resending with backoff until acknowledged or expired;
 * turns acks and telemetry into ACKED / EXECUTED / FAILED; releases machines whose account was
 * cured; and re-arms after an emergency release's window.
 *
 * Several api nodes may run it at once (docs/deployment.md, "Several api nodes"): each command is
 * moved under its row lock (`skip locked`), so one send is made and published by one node; one
 * box's sends go out one at a time across the nodes, in counter order (send-lock.ts); the sweeps
 * re-check under a row lock or write through a unique index, so a cure, a re-arm or a decision
 * alert happens once. A node that dies mid-pass takes its locks with its connections. A resend is
 * harmless (the box answers a repeat without acting twice).
 */
import { createHash } from 'node:crypto';
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
import { sendLock } from './send-lock.ts';
import { profileNamed } from './service.ts';
import { deviceOfCommand, dueCommands } from './store.ts';

/** When a box another node was sending to is tried again (besides the regular tick). */
const BUSY_RETRY_MS = 250;

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
  /** How long a node that hangs mid-send keeps a box's send lock (send-lock.ts); default 30 s. */
  sendLeaseSeconds?: number | undefined;
  /** How long a publish is waited for before the send lock is let go; default 10 s. */
  publishWaitMs?: number | undefined;
  /**
   * The shared-subscription group (`$share/<group>/devices/+/status`) of the api nodes on one
   * database, on a broker that has them (Mosquitto): a device's `online` then reaches one node,
   * which resends what the device missed, instead of every node resending it. Null: every node
   * hears every status (the embedded broker, which has no shared subscriptions, and one node).
   */
  statusShareGroup?: string | null;
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

/**
 * The status share group of the api nodes on one database, as the database names itself (its name,
 * address and port as the server sees them, so nodes reaching it under different host names still
 * agree). Nodes on another database — another deployment, a test run on the same broker — are in
 * another group: a device's `online` never goes to a node that does not hold its commands. Null on
 * the embedded database, which has one node.
 */
export async function statusShareGroupOf(db: Database): Promise<string | null> {
  if (db.engine === 'pglite') return null;
  const { rows } = await db.query<{ id: string }>(
    `select current_database() || '@' || coalesce(host(inet_server_addr()), 'socket') || ':'
            || coalesce(inet_server_port(), 0) as id`,
  );
  return `api-${createHash('sha256')
    .update(rows[0]?.id ?? '')
    .digest('hex')
    .slice(0, 16)}`;
}

export function startDispatcher(o: DispatcherOptions): Dispatcher {
  const now = o.now ?? Date.now;
  /** Devices that have come back online since the last pass. */
  const reconnected = new Set<string>();
  const sends = sendLock(o.db, { leaseSeconds: o.sendLeaseSeconds });
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;
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
  // Every node applies every ack (a second application finds the command moved on and changes
  // nothing); a device's coming back is one node's business.
  const statuses = o.statusShareGroup ? `$share/${o.statusShareGroup}/devices/+/status` : 'devices/+/status';
  o.mqtt.subscribe([topics.allAcks, statuses], { qos: 1 });

  async function handleAck(deviceId: string, payload: Buffer): Promise<void> {
    const ack = readAck(payload);
    if (!ack) {
      o.logger.warn({ deviceId, payload: payload.toString('utf8').slice(0, 200) }, 'unreadable command ack');
      return;
    }
    await applyAck(steps, deviceId, ack);
  }

  /**
   * Moves one open command as far as it goes now and publishes it if it is to be sent, holding its
   * box's send lock throughout. When another node holds it, the command is tried again shortly
   * (and false is returned).
   */
  async function advance(
    id: string,
    deviceId: string,
    back: ReadonlySet<string> = reconnected,
  ): Promise<boolean> {
    const done = await sends.withDevice(deviceId, async () => {
      const publication = await advanceCommand(steps, id, back);
      if (publication) await publish(publication);
    });
    if (!done) retrySoon();
    return done;
  }

  // Published after the commit: a crash in between means a resend later, never a send unrecorded.
  // Not waited for without end (a broker that never answers would hold the box's send lock): the
  // command stays SENT and is resent on schedule.
  async function publish({ topic, payload }: Publication): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), o.publishWaitMs ?? 10_000);
    });
    try {
      const outcome = await Promise.race([o.mqtt.publishAsync(topic, payload, { qos: 1 }), late]);
      if (outcome === 'late') o.logger.warn({ topic }, 'broker slow to take a command; it will be resent');
    } catch (e) {
      o.logger.warn({ err: (e as Error).message, topic }, 'command publish failed; it will be resent');
    } finally {
      clearTimeout(timer);
    }
  }

  function retrySoon(): void {
    if (retry || stopped) return;
    retry = setTimeout(() => {
      retry = null;
      kick();
    }, BUSY_RETRY_MS);
    retry.unref();
  }

  async function pass(): Promise<void> {
    await confirmByTelemetry(steps);
    await releaseCured(steps, o.profile);
    await rearm(steps);
    const decisions = await raiseDecisionsDue(o.db, o.feed, profileNamed, now());
    if (decisions.length > 0) o.onAlerts?.(await alertsById(o.db, decisions));
    const back = new Set(reconnected);
    const due = await dueCommands(o.db, now(), [...back]);
    for (const d of back) reconnected.delete(d);
    for (const { id, deviceId } of due) {
      // One command's failure never delays another's.
      const done = await advance(id, deviceId, back).catch((e) => {
        o.logger.error({ err: e, id }, 'command dispatch failed');
        return true;
      });
      // Its box was busy with another node's send: its coming back still counts at the retry.
      if (!done && back.has(deviceId)) reconnected.add(deviceId);
    }
  }

  async function dispatchNow(id: string): Promise<void> {
    const deviceId = await deviceOfCommand(o.db, id);
    if (deviceId) await advance(id, deviceId);
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
    dispatchNow: (id) =>
      dispatchNow(id).catch((e) => o.logger.error({ err: e, id }, 'command dispatch failed')),
    async pass() {
      while (running || applying.size > 0) await Promise.all([running, ...applying]);
      await pass();
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (retry) clearTimeout(retry);
      o.mqtt.off('message', onMessage);
      while (running || applying.size > 0) await Promise.all([running, ...applying]);
    },
  };
}
