/**
 * The command dispatcher on two api nodes at once: two dispatchers, each on its own connection pool
 * and its own broker connection, on one PostgreSQL database and one Mosquitto, with boxes running
 * the reference firmware.
 *  - Over a thousand commands, several per box, both nodes racing for them: each send is published
 *    by one node only, and every box takes every command (a box refuses a command whose counter is
 *    not above the last it took, so two nodes publishing one box's commands out of counter order
 *    show up as refusals); then their expiry is recorded once each.
 *  - A box that comes back gets one resend, not one from each node.
 *  - A node that hangs mid-send loses the box to the other node when its lease runs out; one that
 *    dies mid-pass (its connections ended, its pool gone) leaves nothing stuck.
 *
 * The nodes' clock is the test's: it stands still unless a test moves it, so a resend after its
 * backoff happens only where a test asks for one, and every other publication is a first send.
 *
 * Needs the real engines (MQTT_URL and DATABASE_URL): PGlite is one process, so there is no second
 * node to run. Skipped without them.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { appendAudit } from '../../api/audit/log.ts';
import { commandFeed } from '../../api/commands/feed.ts';
import { approveCommand, requestCommand } from '../../api/commands/service.ts';
import { ContractInputSchema } from '../../api/contracts/schemas.ts';
import { upsertContract } from '../../api/contracts/service.ts';
import { provisionDevices } from '../../api/devices/store.ts';
import type { Database } from '../../db/client.ts';
import type { CommandType } from '../../shared/policy.ts';
import {
  connectBox,
  type DispatchNode,
  type NodeOptions,
  PROFILE,
  startDispatchNode,
  type WireBox,
} from '../support/dispatch-nodes.ts';
import { realBroker, realDatabase, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';
import { waitFor } from '../support/wait.ts';

const run = `${process.pid}${randomBytes(3).toString('hex')}`;
const HOUR = 3_600_000;
const DESK = {
  id: 'desk',
  username: 'desk',
  name: 'Desk',
  roles: ['risk_manager' as const],
  scope: { kind: 'all' as const },
};

interface Provisioned {
  deviceId: string;
  token: string;
}

describe.skipIf(!realDatabase || !realBroker)('command dispatch on two api nodes', () => {
  let scratch: ScratchDatabase;
  let db: Database;
  let nodes: DispatchNode[] = [];
  const boxes: WireBox[] = [];
  /** Lets go of the sends the tests froze, so a dead node's pass can end. */
  const thaw: (() => void)[] = [];
  const freeze = () => new Promise<void>((resolve) => thaw.push(resolve));

  beforeAll(async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
  });
  // A test's nodes go with it: left running they would dispatch the next test's commands.
  afterEach(async () => {
    for (const t of thaw.splice(0)) t();
    for (const n of nodes) await n.stop().catch(() => {});
    nodes = [];
  });
  afterAll(async () => {
    for (const b of boxes) await b.stop().catch(() => {});
    await db?.close();
    await scratch?.drop();
  });

  const startNode = async (name: string, o: Omit<NodeOptions, 'name' | 'databaseUrl' | 'mqttUrl'>) => {
    const node = await startDispatchNode({
      name: `${name}-${run}`,
      databaseUrl: scratch.url!,
      mqttUrl: realBroker!,
      ...o,
    });
    nodes.push(node);
    return node;
  };

  /** Provisions `count` devices on machines without a contract (a locate or a release needs none). */
  const provision = async (tag: string, count: number): Promise<Provisioned[]> => {
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
    return items;
  };
  const connect = async (devices: Provisioned[], options: { answer?: boolean } = {}) => {
    const connected = await Promise.all(
      devices.map((d) => connectBox(realBroker!, d.deviceId, d.token, options)),
    );
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

  const count = async (sql: string, params: unknown[]) =>
    Number((await db.query<{ n: string }>(sql, params)).rows[0]?.n);
  const openCommands = (tag: string) =>
    count(
      `select count(*) as n from command where device_id like $1 || '-%'
       and state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT')`,
      [tag],
    );
  const attempts = async (id: string) => count('select attempts as n from command where id = $1', [id]);
  /** How often each command was published, by any node. */
  const publications = (...of: DispatchNode[]) => {
    const n = new Map<string, number>();
    for (const p of of.flatMap((x) => x.published)) n.set(p.commandId, (n.get(p.commandId) ?? 0) + 1);
    return n;
  };

  it('1,100 commands to 100 boxes: each published once, every one taken in counter order, each expired once', {
    timeout: 240_000,
  }, async () => {
    const tag = `NODES${run}`;
    const mine = await connect(await provision(tag, 100));
    const clock = { t: Date.now() };
    const now = () => clock.t;
    const ids: string[] = [];
    // A box's commands one after another: the nodes, each going through the due commands in order,
    // meet on the same box all the time.
    for (const b of mine) {
      for (let i = 0; i < 11; i++)
        ids.push(await request(now(), b.deviceId, i % 2 === 0 ? 'locate' : 'release'));
    }
    const [a, b] = await Promise.all([startNode('nodes-a', { now }), startNode('nodes-b', { now })]);
    await waitFor(async () => (await openCommands(tag)) === 0, {
      what: 'every command answered',
      timeoutMs: 120_000,
    });

    const { rows } = await db.query<{ state: string; attempts: number; ack_reason: string | null }>(
      `select state, attempts, ack_reason from command where device_id like $1 || '-%'`,
      [tag],
    );
    expect(rows).toHaveLength(ids.length);
    expect(rows.filter((r) => r.state === 'FAILED').map((r) => r.ack_reason)).toEqual([]);
    expect(rows.filter((r) => r.attempts !== 1)).toEqual([]);
    const sent = publications(a!, b!);
    expect(sent.size).toBe(ids.length);
    expect([...sent.values()].filter((n) => n !== 1)).toEqual([]);
    // Both nodes did part of the work: otherwise this proves nothing about two.
    expect(a!.published.length).toBeGreaterThan(0);
    expect(b!.published.length).toBeGreaterThan(0);
    for (const box of mine) {
      expect(box.answers.filter((x) => x.ack.status === 'refused').map((x) => x.ack.reason)).toEqual([]);
      const counters = box.answers.map((x) => x.counter);
      expect(counters).toEqual([...counters].sort((x, y) => x - y));
    }
    expect(mine.reduce((n, box) => n + box.answers.length, 0)).toBe(ids.length);

    // A day later the releases (taken, never confirmed by telemetry) run out, on both nodes at once.
    clock.t += 25 * HOUR;
    await Promise.all([a!.dispatcher.pass(), b!.dispatcher.pass()]);
    const releases = ids.length / 2 - 50; // 5 of each box's 11
    await waitFor(
      async () =>
        (await count(
          `select count(*) as n from command where device_id like $1 || '-%' and state = 'EXPIRED'`,
          [tag],
        )) === releases,
      { what: 'the releases expired', timeoutMs: 60_000 },
    );
    await Promise.all([a!.dispatcher.pass(), b!.dispatcher.pass()]);
    const expired = await db.query<{ command_id: string; n: string }>(
      `select t.command_id, count(*) as n from command_transition t join command c on c.id = t.command_id
       where c.device_id like $1 || '-%' and t.to_state = 'EXPIRED' group by t.command_id`,
      [tag],
    );
    expect(expired.rows).toHaveLength(releases);
    expect(expired.rows.filter((r) => Number(r.n) !== 1)).toEqual([]);
    expect(publications(a!, b!).size).toBe(ids.length); // nothing sent again
  });

  it('a thousand approvals on two nodes: each approved command published once, as the approving node sends it and the other passes', {
    timeout: 240_000,
  }, async () => {
    // Emergency releases on stage-3 loans need a second risk manager's approval; the approving
    // node sends at once (as the approve route does) while the other node's timer passes look for
    // due commands: the race two dispatchers must not turn into a double send.
    const tag = `APPR${run}`;
    const boxes = await provision(tag, 50);
    for (const [i, b] of boxes.entries()) {
      const input = ContractInputSchema.parse({
        number: `APPR-${run}-${i}`,
        kind: 'loan',
        principal: 3_600_000,
        startDate: '2024-01-01',
        termMonths: 36,
        customer: { name: '测试客户' },
        machineId: `M${b.deviceId}`,
      });
      await db.transaction((tx) => upsertContract(tx, input, Date.now()));
    }
    const mine = await connect(boxes);
    const now = () => Date.now();
    const [a, b] = await Promise.all([startNode('appr-a', { now }), startNode('appr-b', { now })]);
    const approver = { ...DESK, id: 'desk2', username: 'desk2', name: 'Desk 2' };
    const feed = commandFeed(db, () => {}, appendAudit);
    const ids: string[] = [];
    const approveOne = async (k: number) => {
      const box = mine[k % mine.length] as WireBox;
      const id = await request(now(), box.deviceId, 'release');
      await feed.run((tx, onTransition) =>
        approveCommand(tx, id, approver, 'approved', now(), { profile: PROFILE, onTransition }),
      );
      ids.push(id);
      await (k % 2 === 0 ? a! : b!).dispatcher.dispatchNow(id);
    };
    // Ten approvals in flight at a time, on alternating nodes.
    for (let k = 0; k < 1000; k += 10) {
      await Promise.all(Array.from({ length: 10 }, (_, j) => approveOne(k + j)));
    }
    await waitFor(async () => (await openCommands(tag)) === 0, {
      what: 'every approved command answered',
      timeoutMs: 120_000,
    });

    const { rows } = await db.query<{ state: string; attempts: number; emergency: boolean }>(
      `select state, attempts, emergency from command where device_id like $1 || '-%'`,
      [tag],
    );
    expect(rows).toHaveLength(1000);
    expect(rows.filter((r) => !r.emergency)).toEqual([]);
    expect(rows.filter((r) => r.attempts !== 1)).toEqual([]);
    const sent = publications(a!, b!);
    expect([...ids].filter((id) => sent.get(id) !== 1)).toEqual([]);
    // Both nodes sent some: otherwise this proves nothing about two.
    expect(a!.published.filter((p) => p.deviceId.startsWith(tag)).length).toBeGreaterThan(0);
    expect(b!.published.filter((p) => p.deviceId.startsWith(tag)).length).toBeGreaterThan(0);
    for (const box of mine) {
      expect(box.answers.filter((x) => x.ack.status === 'refused').map((x) => x.ack.reason)).toEqual([]);
      expect(new Set(box.received.map((c) => c.id)).size).toBe(box.received.length);
    }
    expect(mine.reduce((n, box) => n + box.received.length, 0)).toBe(1000);
  });

  it('a box that comes back gets one resend, not one from each node', async () => {
    const tag = `BACK${run}`;
    const [device] = await provision(tag, 1);
    const clock = { t: Date.now() };
    const now = () => clock.t;
    // B hears of devices coming back only when the test lets it: after A has resent.
    const a = await startNode('back-a', { now, holdStatus: true });
    const b = await startNode('back-b', { now, holdStatus: true });
    const id = await request(now(), device!.deviceId, 'locate');
    // Recorded, and taken by the broker: a publication still on its way could reach the box below.
    await waitFor(async () => (await attempts(id)) === 1, { what: 'the first send' });
    await waitFor(async () => [a, b].some((n) => n.confirmed.some((p) => p.commandId === id)), {
      what: 'the first send taken by the broker',
    });
    // The box was away: the first send reached nobody. Now it is back, and never answers.
    const [box] = await connect([device!], { answer: false });
    await box!.online();
    // With the nodes in one share group one of them hears it; each would, otherwise.
    const hearing = await waitFor(async () => [a, b].find((n) => n.heldStatus() > 0), {
      what: 'a node told the box is back',
    });
    hearing.releaseStatus();
    await waitFor(async () => box!.received.length === 1, { what: 'the resend' });
    await hearing.dispatcher.pass();
    const other = hearing === a ? b : a;
    other.releaseStatus();
    await other.dispatcher.pass();
    await a.dispatcher.pass();
    await b.dispatcher.pass();

    expect(await attempts(id)).toBe(2);
    expect(publications(a, b).get(id)).toBe(2);
    expect(box!.received.map((c) => c.id)).toEqual([id]);
  });

  it('a node that hangs mid-send loses the box to the other node when its lease runs out', async () => {
    const tag = `HANG${run}`;
    const [box] = await connect(await provision(tag, 1));
    const clock = { t: Date.now() };
    const now = () => clock.t;
    // A takes the box's send lock, records the send, and hangs before the message leaves.
    let hung = false;
    const a = await startNode('hang-a', {
      now,
      sendLeaseSeconds: 1,
      publishWaitMs: 3_600_000,
      beforePublish: () => {
        hung = true;
        return freeze();
      },
    });
    const id = await request(now(), box!.deviceId, 'locate');
    await waitFor(async () => hung, { what: 'A hung mid-send' });
    expect(await attempts(id)).toBe(1);
    // Its resend falls due; B can send it only once the server has ended A's idle lock transaction.
    clock.t += 6_000;
    const b = await startNode('hang-b', { now });
    await waitFor(async () => box!.answers.length > 0, { what: 'B sends the command A hung on' });
    expect(box!.received.map((c) => c.id)).toEqual([id]);
    expect(box!.answers[0]!.ack.status).toBe('done');
    expect(b.published.map((p) => p.commandId)).toEqual([id]);
    await a.kill();
  });

  it('a node that dies mid-pass, holding a box, leaves nothing stuck', async () => {
    const tag = `KILL${run}`;
    const mine = await connect(await provision(tag, 20));
    const clock = { t: Date.now() };
    const now = () => clock.t;
    const ids: string[] = [];
    for (const box of mine)
      for (let i = 0; i < 5; i++) ids.push(await request(now(), box.deviceId, i % 2 ? 'release' : 'locate'));
    // A sends nine commands, then freezes on the tenth holding its box's send lock, the send
    // recorded and not published; no lease or publish timeout frees it: only its death.
    let frozen: { commandId: string; deviceId: string } | null = null;
    let sends = 0;
    const a = await startNode('kill-a', {
      now,
      sendLeaseSeconds: 3_600,
      publishWaitMs: 3_600_000,
      beforePublish: (p) => {
        if (++sends < 10) return;
        frozen = p;
        return freeze();
      },
    });
    const held = await waitFor(async () => frozen, { what: 'A frozen mid-send' });
    const b = await startNode('kill-b', { now });
    await waitFor(
      async () =>
        (await count(
          `select count(*) as n from command where device_id like $1 || '-%' and device_id <> $2
           and state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT')`,
          [tag, held.deviceId],
        )) === 0,
      { what: 'B done with the other boxes', timeoutMs: 60_000 },
    );
    // While A lives, its box is its own.
    expect(b.published.filter((p) => p.deviceId === held.deviceId)).toEqual([]);
    expect(
      await count('select count(*) as n from command where device_id = $1 and state = $2', [
        held.deviceId,
        'SENT',
      ]),
    ).toBe(1);

    clock.t += 6_000; // the frozen command's resend falls due
    await a.kill();
    await waitFor(async () => (await openCommands(tag)) === 0, {
      what: 'every command answered',
      timeoutMs: 60_000,
    });
    for (const box of mine) {
      expect(box.answers.filter((x) => x.ack.status === 'refused').map((x) => x.ack.reason)).toEqual([]);
    }
    const taken = new Set(mine.flatMap((box) => box.answers.map((x) => x.ack.id)));
    expect(ids.filter((id) => !taken.has(id))).toEqual([]);
    expect(b.published.map((p) => p.commandId)).toContain(held.commandId);
  });
});
