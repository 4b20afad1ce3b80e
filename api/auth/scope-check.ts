/**
 * Scope on routes that name one thing in their path. A route declares what its `:id` is —
 * `config: { access: [...], scopedBy: 'contract' }` — and a hook after validation looks it up
 * within the user's scope: an id outside it is 404, the same answer as an id that does not exist,
 * so the answer does not tell which ids exist elsewhere. The hook also gives every signed-in request
 * its viewer (request.viewer), which list queries filter by.
 */
import type { FastifyInstance } from 'fastify';
import type { Sql } from '../../db/client.ts';
import { notFound } from '../http/errors.ts';
import {
  alertInScope,
  commandInScope,
  contractInScope,
  deviceInScope,
  machineInScope,
  seesAll,
  type Viewer,
  viewerOf,
} from './scope.ts';

export const SCOPED_KINDS = ['contract', 'machine', 'device', 'command', 'alert'] as const;
export type ScopedKind = (typeof SCOPED_KINDS)[number];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route's `:id` names; outside the signed-in user's scope it answers 404. */
    scopedBy?: ScopedKind;
  }
  interface FastifyRequest {
    /** The signed-in user with their scope at this request's moment (null on public routes). */
    viewer: Viewer;
  }
}

/** Whether the thing is in the viewer's scope (false too when it does not exist). */
export async function inScope(db: Sql, kind: ScopedKind, id: string, v: Viewer): Promise<boolean> {
  const params: unknown[] = [id];
  let sql: string;
  switch (kind) {
    case 'contract':
      sql = `select 1 from contract c where c.id = $1 and ${contractInScope(v, 'c', params)}`;
      break;
    case 'machine':
      sql = `select 1 from machine m where m.id = $1 and ${machineInScope(v, 'm.id', params)}`;
      break;
    case 'device':
      sql = `select 1 from device d where d.id = $1 and ${deviceInScope(v, 'd.id', params)}`;
      break;
    case 'command':
      sql = `select 1 from command k where k.id = $1 and ${commandInScope(v, 'k', params)}`;
      break;
    case 'alert':
      if (!/^\d{1,18}$/.test(id)) return false;
      sql = `select 1 from alert a where a.id = $1::bigint and ${alertInScope(v, params)}`;
      break;
  }
  const { rows } = await db.query(sql, params);
  return rows.length > 0;
}

export function installScopeCheck(app: FastifyInstance, db: Sql, now: () => number): void {
  app.decorateRequest('viewer', null as unknown as Viewer);
  app.addHook('preHandler', async (request) => {
    if (!request.user) return;
    request.viewer = viewerOf(request.user, now());
    const kind = request.routeOptions.config?.scopedBy;
    if (!kind || seesAll(request.viewer)) return;
    const id = (request.params as { id?: string }).id ?? '';
    if (!(await inScope(db, kind, id, request.viewer))) throw notFound(`${kind} ${id}`);
  });
}
