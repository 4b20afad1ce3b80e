/**
 * A user's scope as SQL: conditions the queries put in their WHERE clause, so a row outside the
 * scope is never read (not read and dropped after). Each function appends its parameters to the
 * caller's list and returns the condition; the scope 'all' is `true`.
 */

import type { Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';

/** Who is asking: the signed-in user's id, roles and scope, and the moment assignments count at. */
export interface Viewer {
  id: string;
  roles: readonly Role[];
  scope: Scope;
  /** The platform's clock: an assignment counts while `now` is before its end. */
  now: number;
}

/** Everyone, for the platform's own work (background jobs, tests of other features). */
export const EVERYTHING: Viewer = { id: '', roles: [], scope: { kind: 'all' }, now: 0 };

export const seesAll = (v: Viewer) => v.scope.kind === 'all';

/** The contract row aliased `c` is in the viewer's scope. */
export function contractInScope(v: Viewer, c: string, params: unknown[]): string {
  switch (v.scope.kind) {
    case 'all':
      return 'true';
    case 'dealers':
      return `${c}.dealer_id = any($${params.push(v.scope.dealerIds)}::text[])`;
    case 'assigned':
      return `exists (select 1 from case_assignment ca
                      where ca.contract_id = ${c}.id and ca.agent_id = $${params.push(v.id)}::uuid
                        and ca.revoked_at is null
                        and ca.assigned_until > $${params.push(new Date(v.now).toISOString())}::timestamptz)`;
  }
}

/** The machine whose id is the expression `machineId` carries a contract in the viewer's scope. */
export function machineInScope(v: Viewer, machineId: string, params: unknown[]): string {
  if (seesAll(v)) return 'true';
  return `exists (select 1 from contract sc where sc.machine_id = ${machineId} and ${contractInScope(v, 'sc', params)})`;
}

/** The device whose id is the expression `deviceId` sits now on a machine in the viewer's scope. */
export function deviceInScope(v: Viewer, deviceId: string, params: unknown[]): string {
  if (seesAll(v)) return 'true';
  return `exists (select 1 from installation si where si.device_id = ${deviceId} and si.removed_at is null
                  and ${machineInScope(v, 'si.machine_id', params)})`;
}

/**
 * The condition that the alert row `a` is in the viewer's scope: its contract, or for an alert
 * raised on no contract, the machine its device sits on now.
 */
export function alertInScope(viewer: Viewer, params: unknown[]): string {
  if (seesAll(viewer)) return 'true';
  return `(case when a.contract_id is null then ${deviceInScope(viewer, 'a.device_id', params)}
                else exists (select 1 from contract c where c.id = a.contract_id
                             and ${contractInScope(viewer, 'c', params)}) end)`;
}

/** The command row aliased `k` is in the viewer's scope: its contract, or without one its device. */
export function commandInScope(viewer: Viewer, k: string, params: unknown[]): string {
  if (seesAll(viewer)) return 'true';
  return `(case when ${k}.contract_id is null then ${deviceInScope(viewer, `${k}.device_id`, params)}
                else exists (select 1 from contract kc where kc.id = ${k}.contract_id
                             and ${contractInScope(viewer, 'kc', params)}) end)`;
}

/** The geofence row aliased `g` is in the viewer's scope: a global one, or one of a contract in scope. */
export function geofenceInScope(viewer: Viewer, g: string, params: unknown[]): string {
  if (seesAll(viewer)) return 'true';
  return `(${g}.contract_id is null or exists (select 1 from contract gc where gc.id = ${g}.contract_id
                                               and ${contractInScope(viewer, 'gc', params)}))`;
}

/** The signed-in user as a viewer at `now`. */
export const viewerOf = (
  user: { id: string; roles: readonly Role[]; scope: Scope },
  now: number,
): Viewer => ({
  id: user.id,
  roles: user.roles,
  scope: user.scope,
  now,
});
