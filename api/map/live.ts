/**
 * Live map updates. Ingest announces committed position advances on the broker; every api node
 * listens, collapses bursts to the latest per device, joins them to contract and stage in one query
 * and pushes them to browsers over socket.io — so a burst of 10,000 reports is one emit, not 10,000.
 *
 * Scope: each socket joins the room of its user's scope (one room for the scope all, one per set of
 * dealers, one per agent for assigned cases), and each room gets what its scope holds, read with
 * the scope in the query — one query per room with listeners, not one per socket.
 */
import type { Server as HttpServer } from 'node:http';
import type { MqttClient } from 'mqtt';
import type { Logger } from 'pino';
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
import {
  alertInScope,
  commandInScope,
  contractInScope,
  seesAll,
  type Viewer,
  viewerOf,
} from '../auth/scope.ts';
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
  flushEveryMs?: number;
  /** How often every connection's session is checked again (expiry, revocation, roles, scope, disabled). */
  sessionCheckMs?: number;
  /** The platform's clock: case assignments count while it is before their end. */
  now?: (() => number) | undefined;
}

/** The room of a user's scope: users who see the same share one. */
export function scopeRoom(user: AuthUser): string {
  const s = user.scope;
  if (s.kind === 'all') return 'scope:all';
  if (s.kind === 'dealers') return `scope:dealers:${[...new Set(s.dealerIds)].sort().join(',')}`;
  return `scope:assigned:${user.id}`;
}

export interface Live {
  io: Server<ClientToServerEvents, ServerToClientEvents>;
  close(): Promise<void>;
}

export function attachLive(http: HttpServer, options: LiveOptions): Live {
  const { db, mqtt, logger } = options;
  const now = options.now ?? Date.now;
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(http, { serveClient: false });
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
  // The rooms of the scopes connected to this node, each with a user whose scope it is.
  const rooms = new Map<string, AuthUser>();
  io.on('connection', (socket) => {
    const user = socket.data.user as AuthUser;
    const room = scopeRoom(user);
    rooms.set(room, user);
    socket.join(room);
  });
  const listening = (): [string, Viewer][] => {
    const out: [string, Viewer][] = [];
    for (const [room, user] of rooms) {
      if ((io.sockets.adapter.rooms.get(room)?.size ?? 0) === 0) rooms.delete(room);
      else out.push([room, viewerOf(user, now())]);
    }
    return out;
  };
  /** Sends each room the items whose ids its scope holds (`visible` asks the database). */
  const emitScoped = async <T>(
    items: T[],
    idOf: (item: T) => string,
    visible: (viewer: Viewer, ids: string[]) => Promise<Set<string>>,
    emit: (room: string, items: T[]) => void,
  ) => {
    const ids = items.map(idOf);
    for (const [room, viewer] of listening()) {
      const shown = seesAll(viewer)
        ? items
        : await visible(viewer, ids).then((v) => items.filter((i) => v.has(idOf(i))));
      if (shown.length > 0) emit(room, shown);
    }
  };
  const idsWhere = async (
    sql: (viewer: Viewer, params: unknown[]) => string,
    viewer: Viewer,
    ids: string[],
  ) => {
    const params: unknown[] = [ids];
    const { rows } = await db.query<{ id: string }>(sql(viewer, params), params);
    return new Set(rows.map((r) => r.id));
  };
  const contractsVisible = (viewer: Viewer, ids: string[]) =>
    idsWhere(
      (v, p) => `select c.id from contract c where c.id = any($1::text[]) and ${contractInScope(v, 'c', p)}`,
      viewer,
      ids,
    );
  const alertsVisible = (viewer: Viewer, ids: string[]) =>
    idsWhere(
      (v, p) =>
        `select a.id::text as id from alert a where a.id = any($1::bigint[]) and ${alertInScope(v, p)}`,
      viewer,
      ids,
    );
  const commandsVisible = (viewer: Viewer, ids: string[]) =>
    idsWhere(
      (v, p) => `select k.id from command k where k.id = any($1::text[]) and ${commandInScope(v, 'k', p)}`,
      viewer,
      ids,
    );
  const report = (what: string) => (e: unknown) => logger.error({ err: e }, `${what} failed`);

  const pending = new Set<string>();

  // A stage change re-colours the machine on the map: its device joins the next map push.
  const onStageChanges = async (changes: StageChange[]) => {
    await emitScoped(
      changes,
      (c) => c.contractId,
      contractsVisible,
      (room, shown) => io.local.to(room).emit('stages:update', shown),
    );
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
      onStageChanges(parsed as StageChange[]).catch((e) => logger.error({ err: e }, 'stage update failed'));
    },
    [LIVE_ALERTS_TOPIC]: (parsed) => {
      emitScoped(
        parsed as AlertView[],
        (a) => a.id,
        alertsVisible,
        (room, shown) => io.local.to(room).emit('alerts:update', shown),
      ).catch(report('alert update'));
    },
    [LIVE_COMMANDS_TOPIC]: (parsed) => {
      emitScoped(
        parsed as CommandUpdate[],
        (c) => c.commandId,
        commandsVisible,
        (room, shown) => io.local.to(room).emit('commands:update', shown),
      ).catch(report('command update'));
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
  mqtt.on('message', onMessage);
  mqtt.subscribe(Object.keys(handlers), { qos: 0 });

  let flushing = false;
  const timer = setInterval(async () => {
    if (flushing || pending.size === 0 || io.engine.clientsCount === 0) {
      if (io.engine.clientsCount === 0) pending.clear();
      return;
    }
    flushing = true;
    const deviceIds = [...pending];
    pending.clear();
    try {
      for (const [room, viewer] of listening()) {
        const { features } = await findMachines(db, viewer, { deviceIds });
        if (features.length > 0) io.local.to(room).emit('machines:update', features);
      }
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
      // The http server belongs to fastify, which closes it; here only the sockets end.
      io.disconnectSockets(true);
    },
  };
}

type LiveServer = Server<ClientToServerEvents, ServerToClientEvents>;
const sameRoles = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

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
      const now = await verdict;
      const ended =
        !now ||
        now.expiresAt.getTime() <= Date.now() ||
        !sameRoles(now.roles, was.roles) ||
        scopeRoom(now) !== scopeRoom(was) ||
        !mayCall(now.roles, LIVE_ACCESS);
      if (ended) socket.disconnect(true);
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
