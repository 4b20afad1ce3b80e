/**
 * The listening connection (db/listener.ts) through a database outage: the test reaches PostgreSQL
 * through a TCP relay of its own and takes the relay away — open connections cut, new ones refused,
 * as while the server restarts — then brings it back. The listener must keep trying, come back by
 * itself, say `reconnected` (what was notified meanwhile is lost), and hear notifications again.
 * Needs DATABASE_URL.
 */
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type ChannelEvent, type Listener, openListener } from '../../db/listener.ts';
import { realDatabase } from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

if (!realDatabase) console.warn('db-listener: skipped, needs DATABASE_URL');

/**
 * A TCP relay to the database that can be taken down (open connections cut, new ones closed at
 * once, and counted) and brought back.
 */
async function relay(target: URL) {
  const sockets = new Set<Socket>();
  let down = false;
  let refused = 0;
  const server = createServer((client) => {
    client.on('error', () => {});
    if (down) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = createConnection(Number(target.port || 5432), target.hostname);
    upstream.on('error', () => {});
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target.toString());
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    refused: () => refused,
    down() {
      down = true;
      for (const socket of sockets) socket.destroy();
    },
    up() {
      down = false;
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

describe.skipIf(!realDatabase)('the listening connection through a database outage', () => {
  const channel = `rt_probe_${randomBytes(4).toString('hex')}`;
  let link: Awaited<ReturnType<typeof relay>> | undefined;
  let listener: Listener | undefined;
  afterAll(async () => {
    await listener?.close();
    link?.down();
    await link?.close();
  });

  const notify = async () => {
    const c = new pg.Client({ connectionString: realDatabase });
    await c.connect();
    await c.query(`notify ${channel}`);
    await c.end();
  };

  it('keeps trying while the database is away, then says reconnected and hears notifications again', async () => {
    link = await relay(new URL(realDatabase as string));
    const events: ChannelEvent[] = [];
    listener = openListener(link.url);
    await listener.listen(channel, (e) => events.push(e));
    await notify();
    await waitFor(async () => events.length === 1, { what: 'the first notification' });
    expect(events).toEqual(['notified']);

    link.down();
    // Sent while nobody listens: lost for good, which is why the listener says `reconnected`.
    await notify();
    // The listener's attempts fail meanwhile; it must not give up after one.
    const gone = link;
    await waitFor(async () => gone.refused() >= 3, { what: 'three attempts to reconnect' });
    expect(events).toEqual(['notified']);

    link.up();
    await waitFor(async () => events.includes('reconnected'), { what: 'the listener to reconnect' });
    await notify();
    await waitFor(async () => events.length === 3, { what: 'a notification after the outage' });
    expect(events).toEqual(['notified', 'reconnected', 'notified']);
  });
});
