/**
 * The live feed's routing gives every viewer exactly what their scope reads: for contracts (stage
 * changes, machines), alerts and commands, the items a socket in the viewer's rooms receives
 * (api/map/audiences.ts, emitted as socket.io delivers: once per socket, whatever its rooms) equal
 * the rows the scope's SQL (api/auth/scope.ts) selects. Dealers, several dealers, running, revoked
 * and ended assignments, a machine with two contracts, alerts and commands on no contract, a removed
 * box. Embedded or real engines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertInScope, commandInScope, contractInScope, type Viewer } from '../../api/auth/scope.ts';
import {
  ALL_ROOM,
  alertRooms,
  audienceRooms,
  commandRooms,
  contractRooms,
  routeByAudience,
} from '../../api/map/audiences.ts';
import type { Database } from '../../db/client.ts';
import type { Scope } from '../../shared/scope.ts';
import { CHEAP_PASSWORD_COST, createTestUser } from '../support/auth.ts';
import { engineName, type ScratchDatabase, scratchDatabase } from '../support/engines.ts';

const NOW = Date.parse('2026-06-15T04:00:00Z');
const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe(`live feed audiences (${engineName})`, () => {
  let scratch: ScratchDatabase;
  let db: Database;
  const agents: Record<'x' | 'y' | 'z', string> = { x: '', y: '', z: '' };
  let alerts: string[] = [];

  beforeAll(async () => {
    scratch = await scratchDatabase();
    db = await scratch.open();
    for (const k of ['x', 'y', 'z'] as const) {
      const u = await createTestUser(db, 'recovery_agent', {
        scope: { kind: 'assigned' },
        cost: CHEAP_PASSWORD_COST,
      });
      agents[k] = u.user.id;
    }
    await db.query(`insert into dealer (id, name) values ('D1', 'Dealer 1'), ('D2', 'Dealer 2')`);
    await db.query(`insert into customer (id, name) values ('CU', 'Customer')`);
    for (const n of [1, 2, 3, 4]) {
      await db.query(
        `insert into machine (id, make, model, type, serial) values ($1, 'XCMG', 'XE215', 'excavator', $2)`,
        [`M${n}`, `S${n}`],
      );
    }
    for (const n of [1, 2, 3, 4, 5]) {
      await db.query('insert into device (id) values ($1)', [`V${n}`]);
    }
    // V1..V4 sit on M1..M4; V5 sat on M2 and was removed.
    await db.query(
      `insert into installation (device_id, machine_id, installed_at, removed_at) values
         ('V1', 'M1', $1, null), ('V2', 'M2', $1, null), ('V3', 'M3', $1, null), ('V4', 'M4', $1, null),
         ('V5', 'M2', $1, $2)`,
      [iso(NOW - 100 * HOUR), iso(NOW - 50 * HOUR)],
    );
    // M1 carries two contracts (an older one of dealer 2, settled); M3's has no dealer; M4 none.
    await db.query(
      `insert into contract (id, number, kind, status, dealer_id, customer_id, machine_id, principal, start_date, term_months) values
         ('C1', 'N1', 'loan', 'active',  'D1', 'CU', 'M1', 100, '2025-01-01', 12),
         ('C2', 'N2', 'loan', 'active',  'D2', 'CU', 'M2', 100, '2025-01-01', 12),
         ('C3', 'N3', 'loan', 'active',  null, 'CU', 'M3', 100, '2025-01-01', 12),
         ('C4', 'N4', 'loan', 'settled', 'D2', 'CU', 'M1', 100, '2020-01-01', 12)`,
    );
    const assign = (contract: string, agent: string, until: number, revoked = false) =>
      db.query(
        `insert into case_assignment (contract_id, agent_id, assigned_by, assigned_at, assigned_until, reason, revoked_at, revoked_by)
         values ($1, $2::uuid, 'risk', $3, $4, 'find it', $5, $6)`,
        [
          contract,
          agent,
          iso(NOW - 10 * HOUR),
          iso(until),
          revoked ? iso(NOW - HOUR) : null,
          revoked ? 'risk' : null,
        ],
      );
    await assign('C1', agents.x, NOW + 48 * HOUR);
    await assign('C3', agents.x, NOW + 48 * HOUR);
    await assign('C2', agents.y, NOW + 48 * HOUR, true);
    await assign('C4', agents.y, NOW + 48 * HOUR);
    await assign('C3', agents.z, NOW - HOUR); // ended
    const alert = async (device: string, contract: string | null) => {
      const { rows } = await db.query<{ id: string }>(
        `insert into alert (kind, device_id, contract_id, raised_at, last_seen_at)
         values ('tamper', $1, $2, $3, $3) returning id::text`,
        [device, contract, iso(NOW - HOUR)],
      );
      return rows[0]!.id;
    };
    alerts = [
      await alert('V2', 'C2'),
      await alert('V1', null),
      await alert('V4', null),
      await alert('V5', null),
      await alert('V3', 'C3'),
    ];
    const command = (id: string, device: string, contract: string | null) =>
      db.query(
        `insert into command (id, device_id, contract_id, type, state, reason, requested_by, profile, expires_at)
         values ($1, $2, $3, 'locate', 'REQUESTED', 'where is it', 'risk', 'test', $4)`,
        [id, device, contract, iso(NOW + HOUR)],
      );
    await command('K1', 'V1', 'C1');
    await command('K2', 'V2', null);
    await command('K3', 'V4', null);
    await command('K4', 'V5', null);
  });
  afterAll(async () => {
    await db?.close();
    await scratch?.drop();
  });

  const viewers = (): [string, Viewer][] => {
    const v = (id: string, scope: Scope): Viewer => ({ id, roles: ['collector'], scope, now: NOW });
    return [
      ['all', v('00000000-0000-0000-0000-000000000000', { kind: 'all' })],
      ['dealer 1', v('00000000-0000-0000-0000-000000000001', { kind: 'dealers', dealerIds: ['D1'] })],
      ['dealer 2', v('00000000-0000-0000-0000-000000000002', { kind: 'dealers', dealerIds: ['D2'] })],
      [
        'dealers 1+2',
        v('00000000-0000-0000-0000-000000000003', { kind: 'dealers', dealerIds: ['D2', 'D1'] }),
      ],
      ['agent x', v(agents.x, { kind: 'assigned' })],
      ['agent y', v(agents.y, { kind: 'assigned' })],
      ['agent z', v(agents.z, { kind: 'assigned' })],
    ];
  };

  /** What a socket of `viewer` receives of `keys` as the feed routes them: each key with its count. */
  const delivered = async (
    viewer: Viewer,
    keys: string[],
    roomsOf: (db: Database, keys: string[], now: number) => Promise<Map<string, string[]>>,
  ) => {
    const rooms = await roomsOf(db, keys, NOW);
    const mine = new Set(audienceRooms(viewer));
    const got: string[] = [];
    // socket.io sends an emit to several rooms once to a socket that is in any of them.
    for (const route of routeByAudience(keys, (k) => rooms.get(k))) {
      if (route.rooms.some((r) => mine.has(r))) got.push(...route.items);
    }
    return got.sort();
  };
  const selected = async (sql: string, params: unknown[]) =>
    (await db.query<{ id: string }>(sql, params)).rows.map((r) => r.id).sort();

  it('routes contracts (stage changes, machines) as contractInScope reads them', async () => {
    const keys = ['C1', 'C2', 'C3', 'C4'];
    const seen: Record<string, string[]> = {};
    for (const [name, viewer] of viewers()) {
      const params: unknown[] = [keys];
      const expected = await selected(
        `select c.id from contract c where c.id = any($1::text[]) and ${contractInScope(viewer, 'c', params)}`,
        params,
      );
      expect(await delivered(viewer, keys, contractRooms), name).toEqual(expected);
      seen[name] = expected;
    }
    // The cases the test is about, spelled out.
    expect(seen).toEqual({
      all: ['C1', 'C2', 'C3', 'C4'],
      'dealer 1': ['C1'],
      'dealer 2': ['C2', 'C4'],
      'dealers 1+2': ['C1', 'C2', 'C4'],
      'agent x': ['C1', 'C3'],
      'agent y': ['C4'],
      'agent z': [],
    });
  });

  it('routes alerts as alertInScope reads them (on no contract: the contracts of the machine)', async () => {
    for (const [name, viewer] of viewers()) {
      const params: unknown[] = [alerts];
      const expected = await selected(
        `select a.id::text as id from alert a where a.id = any($1::bigint[]) and ${alertInScope(viewer, params)}`,
        params,
      );
      expect(await delivered(viewer, alerts, alertRooms), name).toEqual(expected);
    }
    const [onC2, onM1] = alerts as [string, string];
    expect(await delivered(viewers()[3]![1], alerts, alertRooms)).toEqual([onC2, onM1].sort());
  });

  it('routes commands as commandInScope reads them', async () => {
    const keys = ['K1', 'K2', 'K3', 'K4'];
    for (const [name, viewer] of viewers()) {
      const params: unknown[] = [keys];
      const expected = await selected(
        `select k.id from command k where k.id = any($1::text[]) and ${commandInScope(viewer, 'k', params)}`,
        params,
      );
      expect(await delivered(viewer, keys, commandRooms), name).toEqual(expected);
    }
  });

  it('sends every item to all, and each item at most once to any socket', () => {
    const routes = routeByAudience(['a', 'b', 'c'], (k) =>
      k === 'a' ? ['dealer:D1', 'dealer:D2'] : k === 'b' ? ['dealer:D1'] : undefined,
    );
    expect(routes[0]).toEqual({ rooms: [ALL_ROOM], items: ['a', 'b', 'c'] });
    const toTwoDealers = routes.filter((r) => r.rooms.some((x) => x === 'dealer:D1' || x === 'dealer:D2'));
    expect(toTwoDealers.flatMap((r) => r.items).sort()).toEqual(['a', 'b']);
  });
});
