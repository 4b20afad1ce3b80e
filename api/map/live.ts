/**
 * Live map updates across api nodes. Ingest announces committed position advances (and alerts) on
 * the broker; the api announces stage changes, acknowledged or silent alerts and command
 * transitions the same way. Each announcement becomes a feed once, on one api node, and reaches the
 * browsers on every node:
 *
 * 1. Receive. On a real broker with Redis, the api nodes subscribe to the live topics through one
 *    MQTT shared subscription (`$share/<group>/…`, the group named after REDIS_KEY_PREFIX: the
 *    nodes that share a socket.io cluster share the feed), so the broker hands each announcement
 *    to exactly one node. Without Redis each node is its own island and subscribes plainly, as
 *    does the one process on the embedded broker, which has no `$share`.
 * 2. Produce. Positions are collapsed per device for 500 ms (a burst of 10,000 reports is one
 *    feed, not 10,000), then joined to machine, contract and stage in one query, read for everyone;
 *    stage changes, alerts and commands are taken as announced.
 * 3. Route. One more query reads each item's audience (api/map/audiences.ts): the `all` room gets
 *    every item, `dealer:<id>` the items of that dealer's contracts, `agent:<user id>` those of the
 *    agent's running assignments — the rules of api/auth/scope.ts, whichever viewers this node
 *    holds. Items are emitted through the socket.io adapter (Redis Streams with several nodes,
 *    api/map/live-cluster.ts), so each room's sockets on every node get them.
 *
 * A socket joins the rooms of its user's audience on connecting. What stays per node: the session
 * re-checks (every node checks its own sockets, watchSessions below).
 */
import type { Server as HttpServer } from 'node:http';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import { Server } from 'socket.io';
import type { Sql } from '../../db/client.ts';
import type { AlertView } from '../../shared/alerts.ts';
import {
  type ClientToServerEvents,
  type CommandUpdate,
  LIVE_ALERTS_TOPIC,
  LIVE_COMMANDS_TOPIC,
  LIVE_POSITIONS_TOPIC,
  LIVE_STAGES_TOPIC,
  type ServerToClientEvents,
  type StageChange,
} from '../../shared/live.ts';
import { ALL_ROLES, mayCall } from '../../shared/roles.ts';
import type { Authenticate, AuthUser, Session } from '../auth/access.ts';
import { EVERYTHING } from '../auth/scope.ts';
import {
  alertRooms,
  audienceRooms,
  commandRooms,
  contractRooms,
  isAudienceRoom,
  routeByAudience,
} from './audiences.ts';
import { guardRecovery, type KeptSession, type LiveCluster, liveServerOptions } from './live-cluster.ts';
import { findMachines } from './queries.ts';

/** Who may watch live positions: the same roles as GET /api/map/machines. */
const LIVE_ACCESS = ALL_ROLES;

export interface LiveOptions {
  db: Sql;
  mqtt: MqttClient;
  logger: Logger;
  /** Checks the token a browser sends in the handshake (`io({ auth: { token } })`). */
  authenticate: Authenticate;
  /** Told when this process ended a user's sessions (sign-out, revocation): checked at once. */
  onSessionsEnded?: ((listener: (userId: string) => void) => () => void) | undefined;
  /** Redis shared by the api nodes; null: this node alone, in-memory adapter. */
  cluster?: LiveCluster | null | undefined;
  /** MQTT shared-subscription group of the nodes that split the live topics; null: every announcement. */
  shareGroup?: string | null | undefined;
  /** Where the feed counters (`live_feed_batches_total`, `live_feed_items_total`) are registered. */
  metrics?: Registry | undefined;
  flushEveryMs?: number;
  /** How often every connection's session is checked again (expiry, revocation, roles, scope, disabled). */
  sessionCheckMs?: number;
  /** The platform's clock: case assignments count while it is before their end. */
  now?: (() => number) | undefined;
}

export interface Live {
  io: Server<ClientToServerEvents, ServerToClientEvents>;
  close(): Promise<void>;
}

type LiveServer = Server<ClientToServerEvents, ServerToClientEvents>;
type LiveEvent = keyof ServerToClientEvents;

/** The live feed's share group on an external broker with Redis: one per socket.io cluster. */
export function liveShareGroup(redisKeyPrefix: string): string {
  // REDIS_KEY_PREFIX allows A-Z a-z 0-9 _ . : -, none of which MQTT forbids in a share name.
  return `live-${redisKeyPrefix}`;
}

export function attachLive(http: HttpServer, options: LiveOptions): Live {
  const { db, mqtt, logger } = options;
  const now = options.now ?? Date.now;
  const cluster = options.cluster ?? null;
  const io: LiveServer = new Server(http, liveServerOptions(cluster));
  // A restored session resumes only while the token it was opened with still holds what it had.
  guardRecovery(
    io,
    async (session: KeptSession) => {
      const data = session.data as { token?: unknown; user?: AuthUser } | undefined;
      if (typeof data?.token !== 'string' || !data.user) return false;
      const user = await options.authenticate(data.token).catch(() => null);
      return !sessionEnded(data.user, user);
    },
    logger,
  );
  // No socket without a valid token: the client sees connect_error with this message and signs in again.
  io.use((socket, next) => {
    const token: unknown = socket.handshake.auth?.token;
    if (typeof token !== 'string' || token === '') return next(new Error('unauthorized'));
    options.authenticate(token).then(
      (user) => {
        if (!user) return next(new Error('unauthorized'));
        if (!mayCall(user.roles, LIVE_ACCESS)) return next(new Error('forbidden'));
        socket.data.user = user;
        socket.data.token = token;
        next();
      },
      (e: unknown) => {
        logger.error({ err: e }, 'socket authentication failed');
        next(new Error('unauthorized'));
      },
    );
  });
  const sessions = watchSessions(io, options);
  io.on('connection', (socket) => {
    const wanted = audienceRooms(socket.data.user as AuthUser);
    // A restored socket comes back in its old rooms: keep only what its user's audience is now.
    for (const room of socket.rooms) if (isAudienceRoom(room) && !wanted.includes(room)) socket.leave(room);
    socket.join(wanted);
  });

  const feed = feedMetrics(options.metrics);
  /** Emits a batch to the rooms of its audience (`roomsOf` reads them at the platform's time). */
  const emitRouted = async <E extends LiveEvent, T extends Parameters<ServerToClientEvents[E]>[0][number]>(
    event: E,
    items: T[],
    keyOf: (item: T) => string | null,
    roomsOf: (db: Sql, keys: string[], now: number) => Promise<Map<string, string[]>>,
  ) => {
    if (items.length === 0) return;
    const keys = [...new Set(items.map(keyOf).filter((k) => k !== null))];
    const rooms = await roomsOf(db, keys, now());
    for (const route of routeByAudience(items, (i) => {
      const key = keyOf(i);
      return key === null ? undefined : rooms.get(key);
    })) {
      // biome-ignore lint/suspicious/noExplicitAny: socket.io's typed emit cannot follow a generic event name
      (io.to(route.rooms).emit as any)(event, route.items);
    }
    feed.batches.inc({ event });
    feed.items.inc({ event }, items.length);
  };
  const report = (what: string) => (e: unknown) => logger.error({ err: e }, `${what} failed`);

  const pending = new Set<string>();

  // A stage change re-colours the machine on the map: its device joins the next map push.
  const onStageChanges = async (changes: StageChange[]) => {
    await emitRouted('stages:update', changes, (c) => c.contractId, contractRooms);
    const { rows } = await db.query<{ device_id: string }>(
      'select device_id from installation where removed_at is null and machine_id = any($1::text[])',
      [changes.map((c) => c.machineId)],
    );
    for (const r of rows) pending.add(r.device_id);
  };

  // What each live topic on the broker becomes for the browsers.
  const handlers: Record<string, (parsed: unknown) => void> = {
    [LIVE_POSITIONS_TOPIC]: (parsed) => {
      for (const u of parsed as { deviceId: string }[]) pending.add(u.deviceId);
    },
    [LIVE_STAGES_TOPIC]: (parsed) => {
      onStageChanges(parsed as StageChange[]).catch(report('stage update'));
    },
    [LIVE_ALERTS_TOPIC]: (parsed) => {
      emitRouted('alerts:update', parsed as AlertView[], (a) => a.id, alertRooms).catch(
        report('alert update'),
      );
    },
    [LIVE_COMMANDS_TOPIC]: (parsed) => {
      emitRouted('commands:update', parsed as CommandUpdate[], (c) => c.commandId, commandRooms).catch(
        report('command update'),
      );
    },
  };

  const onMessage = (topic: string, payload: Buffer) => {
    const handle = handlers[topic];
    if (!handle) return;
    try {
      handle(JSON.parse(payload.toString()));
    } catch (e) {
      logger.warn({ err: e }, 'unreadable live update');
    }
  };
  const share = options.shareGroup ? `$share/${options.shareGroup}/` : '';
  const subscriptions = Object.keys(handlers).map((t) => share + t);
  mqtt.on('message', onMessage);
  mqtt.subscribe(subscriptions, { qos: 0 });

  let flushing = false;
  const timer = setInterval(async () => {
    // Alone, a node without sockets has nobody to tell; in a cluster the sockets may be on any node.
    if (!cluster && io.engine.clientsCount === 0) pending.clear();
    if (flushing || pending.size === 0) return;
    flushing = true;
    const deviceIds = [...pending];
    pending.clear();
    try {
      const { features } = await findMachines(db, EVERYTHING, { deviceIds });
      await emitRouted('machines:update', features, (f) => f.properties.contractId, contractRooms);
    } catch (e) {
      logger.error({ err: e }, 'live update failed');
    } finally {
      flushing = false;
    }
  }, options.flushEveryMs ?? 500);

  return {
    io,
    async close() {
      clearInterval(timer);
      sessions.stop();
      mqtt.off('message', onMessage);
      if (mqtt.connected) await mqtt.unsubscribeAsync(subscriptions).catch(() => {});
      // Closing the connections (not disconnecting the sockets) keeps their sessions: the browsers
      // reconnect, to another node behind the load balancer, and resume where they were. The http
      // server belongs to fastify, which closes it.
      io.engine.close();
      await io.of('/').adapter.close();
    },
  };
}

/**
 * What this node produced from broker announcements and emitted, by event: batches (emits of one
 * announcement, or of positions collapsed over one interval) and the items in them. Summed over
 * the nodes of a cluster, one per announcement and one per item, not one per node.
 */
function feedMetrics(registry: Registry | undefined) {
  const counter = (name: string, help: string): Counter<'event'> =>
    (registry?.getSingleMetric(name) as Counter<'event'> | undefined) ??
    new Counter({ name, help, labelNames: ['event'], registers: registry ? [registry] : [] });
  return {
    batches: counter(
      'live_feed_batches_total',
      'Live feed batches this api node produced and emitted, by event.',
    ),
    items: counter(
      'live_feed_items_total',
      'Items in the live feed batches this api node emitted, by event.',
    ),
  };
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/**
 * Whether a connection opened as `was` must end, now that its token authenticates as `now`: the
 * session is over (signed out, revoked, disabled, expired), or its roles or audience changed.
 */
function sessionEnded(was: AuthUser, now: Session | null): boolean {
  return (
    !now ||
    now.expiresAt.getTime() <= Date.now() ||
    !sameSet(now.roles, was.roles) ||
    !sameSet(audienceRooms(now), audienceRooms(was)) ||
    !mayCall(now.roles, LIVE_ACCESS)
  );
}

/**
 * A socket is authenticated at its handshake, but a session can end afterwards: the token expires,
 * the user signs out or is revoked, disabled or given other roles or another scope. Every connection is checked
 * again every few seconds (on every api node, so a revocation on another node reaches it too) and
 * at once when this process ends a user's sessions; a socket whose session ended, or whose roles
 * changed, is disconnected. The browser reconnects with its token: refused, it shows the sign-in;
 * accepted, it gets what the new roles may see. One check per distinct token, each a primary-key read.
 */
function watchSessions(io: LiveServer, options: LiveOptions): { stop(): void } {
  let checking: Promise<void> | null = null;
  const check = async () => {
    const verdicts = new Map<string, ReturnType<Authenticate>>();
    // This node's sockets only: every node checks its own.
    for (const socket of await io.local.fetchSockets()) {
      const token = socket.data.token as string;
      const was = socket.data.user as AuthUser;
      let verdict = verdicts.get(token);
      if (!verdict) {
        verdict = options.authenticate(token).catch((e: unknown) => {
          options.logger.error({ err: e }, 'session check failed');
          return was as Session; // the database is away: keep the connection, check again next time
        });
        verdicts.set(token, verdict);
      }
      if (sessionEnded(was, await verdict)) socket.disconnect(true);
    }
  };
  const run = () => {
    checking ??= check()
      .catch((e: unknown) => options.logger.error({ err: e }, 'session check failed'))
      .finally(() => {
        checking = null;
      });
    return checking;
  };
  const timer = setInterval(run, options.sessionCheckMs ?? 2000);
  const unsubscribe = options.onSessionsEnded?.(() => void run()) ?? (() => {});
  return {
    stop() {
      clearInterval(timer);
      unsubscribe();
    },
  };
}
