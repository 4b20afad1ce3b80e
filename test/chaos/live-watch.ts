/**
 * The live map as a browser sees it through the load balancer: socket.io-client with the options
 * of web/src/live/socket.ts (default transports: long-polling, then the WebSocket upgrade;
 * reconnecting with 1–10 s delays), signed in with a token, counting `machines:update` events.
 * Like a browser it keeps the cookies the load balancer sets (`withCredentials`: socket.io-client
 * then keeps a cookie jar in Node), so the sticky-session cookie brings the long-polling handshake's
 * requests to one node. When that node dies the client reconnects to the load balancer, which must
 * send it to the surviving node.
 *
 * One difference from the browser, on purpose: the browser ends its session when a handshake is
 * refused as `unauthorized`, which the api also answers when it cannot check the token (the
 * database restarting). The watcher keeps trying instead, and counts such refusals, so the run
 * measures the gap and reports the refusals rather than stopping there.
 */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, ServerToClientEvents } from '../../shared/live.ts';

/**
 * The longest time without an update within a window: between the window's start and the first
 * update, between consecutive updates, and between the last update and the window's end. Pure.
 */
export class GapTracker {
  private last: number | null = null;
  private maxGapMs = 0;
  private from = 0;

  /** Starts the window at `at` (ms); updates before it are ignored. */
  open(at: number): void {
    this.from = at;
    this.last = at;
    this.maxGapMs = 0;
  }

  update(at: number): void {
    if (this.last === null || at < this.from) return;
    this.maxGapMs = Math.max(this.maxGapMs, at - this.last);
    this.last = at;
  }

  /** The longest gap in ms, the window closed at `at`. */
  close(at: number): number {
    if (this.last === null) return 0;
    return Math.max(this.maxGapMs, at - this.last);
  }
}

export interface LiveWatch {
  readonly tracker: GapTracker;
  /** When the last `machines:update` arrived (ms), 0 before any. */
  lastUpdateAt(): number;
  connected(): boolean;
  /** The api node the load balancer's sticky cookie names (deploy/haproxy/haproxy.cfg), if known. */
  node(): string | null;
  stats(): { updates: number; connects: number; disconnects: number; refusedHandshakes: number };
  close(): void;
}

export function watchLive(lbUrl: string, token: string): Promise<LiveWatch> {
  const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(lbUrl, {
    withCredentials: true,
    reconnectionDelay: 1000,
    reconnectionDelayMax: 10_000,
    auth: { token },
  });
  const tracker = new GapTracker();
  const counts = { updates: 0, connects: 0, disconnects: 0, refusedHandshakes: 0 };
  let lastAt = 0;
  let closed = false;
  socket.on('machines:update', () => {
    lastAt = Date.now();
    counts.updates++;
    tracker.update(lastAt);
  });
  socket.on('disconnect', () => {
    counts.disconnects++;
  });
  socket.on('connect_error', (e) => {
    if (e.message === 'unauthorized' || e.message === 'forbidden') counts.refusedHandshakes++;
    // socket.io-client retries a failed transport by itself, not a handshake its server refused.
    if (!socket.active && !closed) setTimeout(() => !closed && socket.connect(), 1000);
  });
  return new Promise<LiveWatch>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`live socket did not connect to ${lbUrl} in 30 s`)),
      30_000,
    );
    socket.on('connect', () => {
      counts.connects++;
      if (counts.connects > 1) return;
      clearTimeout(timer);
      resolve({
        tracker,
        lastUpdateAt: () => lastAt,
        connected: () => socket.connected,
        node: () => stickyNode(socket),
        stats: () => ({ ...counts }),
        close() {
          closed = true;
          socket.removeAllListeners();
          socket.disconnect();
        },
      });
    });
  });
}

/** HAProxy's cookie `rt_node` in the client's cookie jar (engine.io-client keeps one in Node). */
function stickyNode(socket: Socket): string | null {
  const engine = socket.io.engine as unknown as {
    _cookieJar?: { _cookies?: Map<string, { value: string }> };
  };
  return engine?._cookieJar?._cookies?.get('rt_node')?.value ?? null;
}
