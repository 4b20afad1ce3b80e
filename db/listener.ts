/**
 * PostgreSQL's LISTEN, on one dedicated connection per Database (per process in production).
 *
 * A notification reaches the sessions that LISTEN on its channel when the notifying transaction
 * commits, and only while they are connected: a pooled connection will not do (the pool closes idle
 * ones and hands them to queries), so the listener keeps a connection of its own, idle but for a
 * ping. When that connection is lost — a database restart, a failover, a network cut — whatever was
 * notified meanwhile is lost for good. The listener therefore reconnects by itself, with backoff
 * while the database is away, LISTENs again, and then tells every handler `reconnected`: they must
 * assume anything may have changed while nobody was listening.
 */
import pg from 'pg';

/** The listening connection's name in pg_stat_activity (operators; the tests cut it with it). */
export const LISTENER_APPLICATION_NAME = 'recovery-telematics listener';

/** `notified`: a NOTIFY on the channel was committed. `reconnected`: notifications may have been missed. */
export type ChannelEvent = 'notified' | 'reconnected';
export type ChannelHandler = (event: ChannelEvent) => void;

export interface Listener {
  /** Resolves once LISTEN is in effect (later commits reach the handler); returns the removal. */
  listen(channel: string, handler: ChannelHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
// A connection cut without a FIN or RST (a failover, a dropped NAT entry) shows no error until
// something is sent on it: an idle listener would wait forever, so it pings.
const PING_EVERY_MS = 15_000;
const PING_TIMEOUT_MS = 10_000;
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;

export function openListener(url: string): Listener {
  const handlers = new Map<string, Set<ChannelHandler>>();
  let client: pg.Client | null = null;
  /** Channels LISTENed on the current connection. */
  let listening = new Set<string>();
  let connecting: Promise<pg.Client> | null = null;
  let closed = false;
  let pingTimer: NodeJS.Timeout | null = null;
  let wakeRetry: (() => void) | null = null;

  const dispatch = (channel: string, event: ChannelEvent) => {
    for (const handler of handlers.get(channel) ?? []) {
      try {
        handler(event);
      } catch {
        // A handler's failure is its own; the others still hear of the change.
      }
    }
  };

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: url, application_name: LISTENER_APPLICATION_NAME });
    c.on('error', () => lost(c));
    c.on('end', () => lost(c));
    c.on('notification', (n) => {
      if (c === client) dispatch(n.channel, 'notified');
    });
    try {
      await c.connect();
      const channels = new Set(handlers.keys());
      for (const channel of channels) await c.query(`listen ${channel}`);
      listening = channels;
      return c;
    } catch (e) {
      abandon(c);
      throw e;
    }
  }

  /** Drops a connection without waiting: on a dead socket `end()` would not finish. */
  function abandon(c: pg.Client) {
    c.removeAllListeners();
    c.on('error', () => {});
    c.end().catch(() => {});
  }

  function lost(c: pg.Client) {
    if (c !== client) return;
    client = null;
    if (pingTimer) clearInterval(pingTimer);
    pingTimer = null;
    abandon(c);
    if (!closed) connecting = reconnect();
    // Nobody needs to await a reconnect that stops at close; listen() awaits it where it must.
    connecting?.catch(() => {});
  }

  function established(c: pg.Client) {
    client = c;
    connecting = null;
    pingTimer = setInterval(() => ping(c), PING_EVERY_MS);
    pingTimer.unref();
  }

  function ping(c: pg.Client) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('listener ping timed out')), PING_TIMEOUT_MS);
    });
    Promise.race([c.query('select 1'), timeout])
      .catch(() => lost(c))
      .finally(() => clearTimeout(timer));
  }

  /** Tries again and again, with backoff, until connected or closed. */
  async function reconnect(): Promise<pg.Client> {
    let waitMs = RETRY_FIRST_MS;
    for (;;) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, waitMs);
        wakeRetry = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeRetry = null;
      if (closed) throw new Error('listener closed');
      try {
        const c = await connect();
        if (closed) {
          abandon(c);
          throw new Error('listener closed');
        }
        established(c);
        for (const channel of handlers.keys()) dispatch(channel, 'reconnected');
        return c;
      } catch (e) {
        if (closed) throw e;
        waitMs = Math.min(waitMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** The connection, opening it on first use; a failed first open fails the caller (at start). */
  function current(): Promise<pg.Client> {
    if (client) return Promise.resolve(client);
    if (!connecting) {
      connecting = connect().then(
        (c) => {
          if (closed) {
            abandon(c);
            throw new Error('listener closed');
          }
          established(c);
          return c;
        },
        (e) => {
          connecting = null;
          throw e;
        },
      );
    }
    return connecting;
  }

  return {
    async listen(channel, handler) {
      if (closed) throw new Error('listener closed');
      if (!CHANNEL.test(channel)) throw new Error(`not a channel name: ${JSON.stringify(channel)}`);
      const set = handlers.get(channel) ?? new Set();
      handlers.set(channel, set);
      set.add(handler);
      try {
        const c = await current();
        if (!listening.has(channel)) {
          await c.query(`listen ${channel}`);
          listening.add(channel);
        }
      } catch (e) {
        set.delete(handler);
        throw e;
      }
      return async () => {
        set.delete(handler);
        if (set.size > 0 || handlers.get(channel) !== set) return;
        handlers.delete(channel);
        listening.delete(channel);
        await client?.query(`unlisten ${channel}`).catch(() => {});
      };
    },
    async close() {
      closed = true;
      wakeRetry?.();
      if (pingTimer) clearInterval(pingTimer);
      const c = client;
      client = null;
      if (c) {
        c.removeAllListeners();
        c.on('error', () => {});
        await c.end().catch(() => {});
      }
    },
  };
}
