/**
 * Who may see a live item, as socket.io room names keyed by the data's audience rather than by the
 * viewers one api node happens to hold, so one node can route a feed for the sockets of every node:
 *
 * - `all`: users with the scope all; they see every item.
 * - `dealer:<dealer id>`: users scoped to that dealer (a user with several dealers joins several).
 * - `agent:<user id>`: a recovery agent with the scope `assigned`, for the cases assigned to them.
 *
 * The rooms of an item are read with the same rules as api/auth/scope.ts (contractInScope,
 * alertInScope, commandInScope): a contract's audience is its dealer and the agents with a running
 * assignment on it; an alert or command on no contract belongs to the contracts of the machine its
 * device sits on now. The unit and integration tests hold both to the same answers.
 */
import type { Sql } from '../../db/client.ts';
import type { Scope } from '../../shared/scope.ts';

export const ALL_ROOM = 'all';
const DEALER = 'dealer:';
const AGENT = 'agent:';

/** The rooms a user's sockets join: those whose items their scope holds. */
export function audienceRooms(user: { id: string; scope: Scope }): string[] {
  const s = user.scope;
  if (s.kind === 'all') return [ALL_ROOM];
  if (s.kind === 'dealers') return [...new Set(s.dealerIds)].sort().map((d) => DEALER + d);
  return [AGENT + user.id];
}

/** A room this module names (a socket is also in the room of its own id, which is none of these). */
export const isAudienceRoom = (room: string) =>
  room === ALL_ROOM || room.startsWith(DEALER) || room.startsWith(AGENT);

/**
 * Each item's rooms besides `all`, by the item's key. `contracts` is a query of (key, contract_id):
 * the contracts through which an item is seen; its parameter $1 is the keys, $2 is `now`.
 */
async function roomsThrough(
  db: Sql,
  contracts: string,
  keys: string[],
  now: number,
): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (keys.length === 0) return out;
  const { rows } = await db.query<{ key: string; room: string }>(
    `with seen as (${contracts})
     select s.key, '${DEALER}' || c.dealer_id as room
       from seen s join contract c on c.id = s.contract_id
      where c.dealer_id is not null
     union
     select s.key, '${AGENT}' || ca.agent_id::text
       from seen s join case_assignment ca on ca.contract_id = s.contract_id
      where ca.revoked_at is null and ca.assigned_until > $2::timestamptz`,
    [keys, new Date(now).toISOString()],
  );
  for (const r of rows) {
    const rooms = out.get(r.key) ?? [];
    rooms.push(r.room);
    out.set(r.key, rooms);
  }
  return out;
}

/** Rooms of contracts, by contract id (a machine's feature is seen through its current contract). */
export const contractRooms = (db: Sql, contractIds: string[], now: number) =>
  roomsThrough(db, 'select id as key, id as contract_id from unnest($1::text[]) id', contractIds, now);

/**
 * The contracts through which rows of `table` (alert, command: both have contract_id and device_id)
 * are seen: their own contract, or without one, every contract of the machine their device sits on.
 */
const seenThrough = (table: string, idType: string) => `
  select t.id::text as key, t.contract_id from ${table} t
   where t.id = any($1::${idType}[]) and t.contract_id is not null
  union
  select t.id::text, sc.id from ${table} t
    join installation si on si.device_id = t.device_id and si.removed_at is null
    join contract sc on sc.machine_id = si.machine_id
   where t.id = any($1::${idType}[]) and t.contract_id is null`;

/** Rooms of alerts, by alert id. */
export const alertRooms = (db: Sql, alertIds: string[], now: number) =>
  roomsThrough(db, seenThrough('alert', 'bigint'), alertIds, now);

/** Rooms of remote commands, by command id. */
export const commandRooms = (db: Sql, commandIds: string[], now: number) =>
  roomsThrough(db, seenThrough('command', 'text'), commandIds, now);

export interface Route<T> {
  rooms: string[];
  items: T[];
}

/**
 * Splits a batch into emits: everything to `all`, then the other items grouped by their exact set of
 * rooms. One emit to several rooms reaches a socket once (socket.io joins the rooms), and each item
 * is in one group, so a user in several dealer rooms never receives an item twice.
 */
export function routeByAudience<T>(
  items: T[],
  roomsOf: (item: T) => readonly string[] | undefined,
): Route<T>[] {
  if (items.length === 0) return [];
  const groups = new Map<string, Route<T>>();
  for (const item of items) {
    const rooms = [...new Set(roomsOf(item) ?? [])].sort();
    if (rooms.length === 0) continue;
    const key = rooms.join('\n');
    const group = groups.get(key) ?? { rooms, items: [] };
    group.items.push(item);
    groups.set(key, group);
  }
  return [{ rooms: [ALL_ROOM], items }, ...groups.values()];
}
