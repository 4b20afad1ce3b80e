/**
 * The production load balancer in front of api nodes a test started itself: HAProxy running
 * deploy/haproxy/haproxy.cfg — the one file docker-compose.yml's `lb` service and `npm run cluster`
 * run — with its environment pointed at the test's nodes (LB_BIND, API_1_ADDR, API_2_ADDR). So the
 * tests exercise what production balances with: round robin, the `rt_node` sticky cookie,
 * `option redispatch` and retries to the other node when one is gone, health checks on
 * /api/health, and `X-Served-By` naming the node that answered. On loopback only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findHaproxy, freePort, SERVED_BY } from '../../deploy/cluster/start.ts';
import { waitFor } from './wait.ts';

export const HAPROXY = findHaproxy();
export const hasHaproxy = HAPROXY !== null;
export const HAPROXY_CONFIG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));
/** The cookie haproxy.cfg keeps a browser on its node with; its value is the node's name. */
export const STICKY_COOKIE = 'rt_node';
/** The names haproxy.cfg gives its two api nodes (its `server` lines), in the order of API_n_ADDR. */
export const NODE_NAMES = ['api-1', 'api-2'] as const;
export type NodeName = (typeof NODE_NAMES)[number];

export interface Balancer {
  url: string;
  /** Each node's own URL by the name the load balancer gives it (what the cookie and X-Served-By say). */
  nodes: Record<NodeName, string>;
  stop(): Promise<void>;
}

/** Which node answered a response through the load balancer. */
export function servedBy(res: Response): NodeName {
  const name = res.headers.get(SERVED_BY);
  if (!NODE_NAMES.includes(name as NodeName)) throw new Error(`${SERVED_BY} is ${name}, not an api node`);
  return name as NodeName;
}

/** The `rt_node=<node>` pair of a response's Set-Cookie, to send back as a browser does. */
export function stickyCookie(res: Response): string {
  const pair = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0] ?? '')
    .find((c) => c.startsWith(`${STICKY_COOKIE}=`));
  if (!pair) throw new Error(`no ${STICKY_COOKIE} cookie in ${JSON.stringify(res.headers.getSetCookie())}`);
  return pair;
}

/**
 * Balances the two given nodes (http://127.0.0.1:port each) as api-1 and api-2; resolves once each
 * has answered through it (its health checks have taken both in).
 */
export async function startBalancer(nodeUrls: [string, string]): Promise<Balancer> {
  if (!HAPROXY) throw new Error('no haproxy (apt-get install haproxy, or set HAPROXY to its path)');
  const port = await freePort();
  const [first, second] = nodeUrls.map((u) => new URL(u).host) as [string, string];
  const child: ChildProcess = spawn(HAPROXY, ['-db', '-f', HAPROXY_CONFIG], {
    env: {
      PATH: process.env.PATH ?? '',
      LB_BIND: `127.0.0.1:${port}`,
      API_1_ADDR: first,
      API_2_ADDR: second,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The config logs every request to stdout: keep the end of it for an error message.
  let output = '';
  const keep = (b: Buffer) => {
    output = (output + b.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  };
  try {
    // Without a cookie, round robin sends successive requests to each node that is up.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited: ${output}`);
        const node = await fetch(`${url}/api/health`).then(
          (r) => (r.ok ? r.headers.get(SERVED_BY) : null),
          () => null,
        );
        if (node) seen.add(node);
        return NODE_NAMES.every((n) => seen.has(n));
      },
      { timeoutMs: 30_000, everyMs: 100, what: `both api nodes answering through haproxy at ${url}` },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, nodes: { 'api-1': nodeUrls[0], 'api-2': nodeUrls[1] }, stop };
}
