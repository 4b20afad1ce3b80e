/**
 * The live map's socket.io server across api nodes.
 *
 * With Redis (REDIS_URL) the server uses @socket.io/redis-streams-adapter: an emit to a room is
 * appended to one Redis stream that every node reads, so a feed produced on one node reaches the
 * sockets of all of them. Streams rather than the pub/sub adapter because a stream keeps what was
 * added while a node was cut off from Redis (the node reads on from its last offset; pub/sub
 * forgets), and because its entries carry offsets, which is what connection-state recovery needs
 * to replay what a browser missed — on whichever node it comes back to (docs/architecture.md).
 * Without Redis, socket.io's in-memory adapter: one node, as embedded.
 *
 * Connection-state recovery is on in both: a browser that comes back within two minutes gets its
 * rooms and the pushes it missed, and need not reload the fleet. socket.io restores a session (and
 * writes the missed pushes to the wire) before its middlewares run, so a session is restored only
 * when the token it was opened with still authenticates with the same roles and audience; the
 * auth middleware then checks the token of the new handshake as for any connection.
 */

import { createAdapter } from '@socket.io/redis-streams-adapter';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Server, ServerOptions } from 'socket.io';

/** How long socket.io keeps a disconnected session and the pushes it misses. */
export const RECOVERY_WINDOW_MS = 2 * 60_000;
/** A restore waiting on Redis longer than this gives up: the browser reconnects fresh and reloads. */
const RESTORE_TIMEOUT_MS = 2_000;

export interface LiveCluster {
  redis: Redis;
  /** REDIS_KEY_PREFIX: the stream, channels and session keys of this deployment start with it. */
  keyPrefix: string;
}

export function liveServerOptions(cluster: LiveCluster | null): Partial<ServerOptions> {
  return {
    serveClient: false,
    // Middlewares run on recovery too: the auth middleware refuses a token revoked meanwhile.
    connectionStateRecovery: { maxDisconnectionDuration: RECOVERY_WINDOW_MS, skipMiddlewares: false },
    ...(cluster
      ? {
          adapter: createAdapter(cluster.redis, {
            streamName: `${cluster.keyPrefix}:live:socket.io`,
            channelPrefix: `${cluster.keyPrefix}:live:socket.io`,
            sessionKeyPrefix: `${cluster.keyPrefix}:live:session:`,
            // The payloads are JSON: no binary checks on every emit.
            onlyPlaintext: true,
          }),
        }
      : {}),
  };
}

/** What a disconnected socket kept: its `socket.data` and rooms. */
export interface KeptSession {
  data: unknown;
  rooms: string[];
}

/**
 * Lets socket.io restore a session only when `mayRestore` says so. The adapter's own
 * restoreSession is wrapped on the instance: it is the one place that runs before the missed
 * pushes are written.
 */
export function guardRecovery(
  io: Server,
  mayRestore: (session: KeptSession) => Promise<boolean>,
  logger: Logger,
): void {
  const adapter = io.of('/').adapter;
  const restore = adapter.restoreSession.bind(adapter);
  adapter.restoreSession = async (pid, offset) => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), RESTORE_TIMEOUT_MS);
    });
    try {
      const session = await Promise.race([restore(pid, offset), timeout]);
      if (session && (await mayRestore(session))) return session;
    } catch (e) {
      // Expired, trimmed from the stream, or Redis away: a fresh connection, and the browser reloads.
      logger.debug({ err: e }, 'live session not restored');
    } finally {
      clearTimeout(timer);
    }
    // socket.io treats a missing session as "start fresh" (its own adapters return null too).
    return null as unknown as Awaited<ReturnType<typeof restore>>;
  };
}
