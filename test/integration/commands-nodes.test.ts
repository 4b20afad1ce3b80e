/**
 * The command dispatcher on two api nodes at once: two dispatchers, each on its own connection pool
 * and its own broker connection, on one PostgreSQL database and one Mosquitto, with boxes running
 * the reference firmware. Over a thousand commands, several per box, both nodes racing for them:
 * each send is published by one node only, and every box takes every command (a box refuses a
 * command whose counter is not above the last it took, so two nodes publishing one box's commands
 * out of counter order would show here as refusals).
 *
 * Needs the real engines (MQTT_URL and DATABASE_URL): PGlite is one process, so there is no second
 * node to run. Skipped without them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../api/audit/log.ts';
import { commandFeed } from '../../api/commands/feed.ts';
import { requestCommand } from '../../api/commands/service.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import type { CommandType } from '../../shared/policy.ts';
import {
  connectBox,
  type DispatchNode,
  PROFILE,
  startDispatchNode,
  type WireBox,
} from '../support/dispatch-nodes.ts';
import { realBroker, realDatabase, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${randomBytes(3).toString('hex')}`;
const DESK = {
  id: 'desk',
  username: 'desk',
  name: 'Desk',
  roles: ['risk_manager' as const],
  scope: { kind: 'all' as const },
};

describe.skipIf(!realDatabase || !realBroker)('command dispatch on two api nodes', () => {
  let scratch: ScratchDatabase;
  let db: Database;
  const nodes: DispatchNode[] = [];
  const boxes: WireBox[] = [];

  beforeAll(async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
  });
  afterAll(async () => {
    for (const n of nodes) await n.stop().catch(() => {});
    for (const b of boxes) await b.stop().catch(() => {});
    await db?.close();
    await scratch?.drop();
  });

  /** Provisions `count` boxes (no contract: a locate or a release needs none) and connects them. */
  const provisionBoxes = async (tag: string, count: number): Promise<WireBox[]> => {
    const items = Array.from({ length: count }, (_, i) => ({
      deviceId: `${tag}-${i}`,
      token: randomBytes(16).toString('hex'),
      machine: {
        id: `M${tag}-${i}`,
        make: 'Sany',
        model: 'SY215C',
        type: 'excavator',
        serial: `P${tag}-${i}`,
        year: 2023,
      },
    }));
    await provisionDevices(db, items);
    const connected = await Promise.all(items.map((i) => connectBox(realBroker!, i.deviceId, i.token)));
    boxes.push(...connected);
    return connected;
  };

  const request = (now: number, deviceId: string, type: CommandType) =>
    commandFeed(db, () => {}, appendAudit).run(async (tx, onTransition) => {
      const { command } = await requestCommand(
        tx,
        { deviceId, type, reason: `${type} for the two-node test` },
        DESK,
        now,
        { profile: PROFILE, onTransition },
      );
      return command.id;
    });

  it('1,100 commands to 100 boxes: each published once, every one taken, in counter order', async () => {
    const tag = `NODES${run}`;
    const mine = await provisionBoxes(tag, 100);
    // The nodes' clock stands still: no resend is ever due, so every publication is a first send.
    const t = Date.now();
    const now = () => t;
    const ids: string[] = [];
    // A box's commands one after another: the nodes, each going through the due commands in order,
    // meet on the same box all the time.
    for (const b of mine) {
      for (let i = 0; i < 11; i++) ids.push(await request(t, b.deviceId, i % 2 === 0 ? 'locate' : 'release'));
    }
    const [a, b] = await Promise.all(
      ['a', 'b'].map((n) =>
        startDispatchNode({
          name: `nodes-${n}-${run}`,
          databaseUrl: scratch.url!,
          mqttUrl: realBroker!,
          now,
        }),
      ),
    );
    nodes.push(a!, b!);

    const open = async () =>
      Number(
        (
          await db.query<{ n: string }>(
            `select count(*) as n from command where device_id like $1 || '-%'
             and state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT')`,
            [tag],
          )
        ).rows[0]?.n,
      );
    await waitFor(async () => (await open()) === 0, { what: 'every command answered', timeoutMs: 120_000 });

    const { rows } = await db.query<{
      id: string;
      state: string;
      attempts: number;
      ack_reason: string | null;
    }>(`select id, state, attempts, ack_reason from command where device_id like $1 || '-%'`, [tag]);
    expect(rows).toHaveLength(ids.length);
    expect(rows.filter((r) => r.state === 'FAILED').map((r) => r.ack_reason)).toEqual([]);
    expect(rows.filter((r) => r.attempts !== 1)).toEqual([]);

    const published = new Map<string, number>();
    for (const p of [...a!.published, ...b!.published])
      published.set(p.commandId, (published.get(p.commandId) ?? 0) + 1);
    expect([...published.values()].filter((n) => n !== 1)).toEqual([]);
    expect(published.size).toBe(ids.length);
    // Both nodes did part of the work: otherwise this proves nothing about two.
    expect(a!.published.length).toBeGreaterThan(0);
    expect(b!.published.length).toBeGreaterThan(0);

    for (const box of mine) {
      expect(box.answers.filter((x) => x.ack.status === 'refused').map((x) => x.ack.reason)).toEqual([]);
      const counters = box.answers.map((x) => x.counter);
      expect(counters).toEqual([...counters].sort((x, y) => x - y));
    }
    expect(mine.reduce((n, box) => n + box.answers.length, 0)).toBe(ids.length);
  });
});
