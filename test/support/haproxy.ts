/**
 * HAProxy in front of api nodes, as production balances them: cookie stickiness (socket.io's
 * long-polling requests and the WebSocket upgrade of one connection must reach one node), and a
 * request for a node that is gone is sent to another (`option redispatch`). On loopback only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';
import { waitFor } from './wait.ts';

export const HAPROXY = process.env.HAPROXY_BIN ?? '/usr/sbin/haproxy';
export const hasHaproxy = existsSync(HAPROXY);

export interface Balancer {
  url: string;
  stop(): Promise<void>;
}

/** Balances the given nodes (http://127.0.0.1:port each); new connections go to the first one up. */
export async function startBalancer(nodeUrls: string[]): Promise<Balancer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'rt-haproxy-'));
  const servers = nodeUrls.map((u, i) => {
    const { host } = new URL(u);
    return `  server n${i} ${host} cookie n${i} check inter 200ms fall 1 rise 2`;
  });
  const config = [
    'defaults',
    '  mode http',
    '  timeout connect 1s',
    '  timeout client 30s',
    '  timeout server 30s',
    // A WebSocket, once upgraded, is a tunnel.
    '  timeout tunnel 1h',
    '  retries 2',
    '  option redispatch',
    'frontend live',
    `  bind 127.0.0.1:${port}`,
    '  default_backend api',
    'backend api',
    // Deterministic for the test: the first node that is up gets new connections.
    '  balance first',
    '  cookie SERVERID insert indirect nocache',
    '  option httpchk GET /api/health',
    ...servers,
    '',
  ].join('\n');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child: ChildProcess = spawn(HAPROXY, ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited: ${stderr}`);
        return fetch(`${url}/api/health`).then(
          (r) => r.ok,
          () => false,
        );
      },
      { what: 'haproxy to answer' },
    );
  } catch (e) {
    await stop();
    throw e;
  }
  return { url, stop };
}
