/**
 * The embedded demo sends its recovery agent to the demo fleet's stage-3 cases, the way a risk
 * manager sends a real one: a case_assignment row with an end date and a `case.assigned` row in the
 * audit chain each. The agent's scope is `assigned` like any agent's, so the demo shows a field
 * agent's day: these cases on the map, in the nearest list and in the alerts, and nothing else.
 */
import type { Sql } from '../../db/client.ts';
import { EVERYTHING } from '../auth/scope.ts';
import { assignCase } from './assignments.ts';

/** The demo recovery agent (api/auth/demo-users.ts) and who sends it: the demo itself. */
export const DEMO_AGENT = 'agent';
export const DEMO_ASSIGNER = 'system:demo';
/** Long enough for a demo, short enough to show that an assignment ends; renewed at each start. */
export const DEMO_ASSIGNMENT_DAYS = 30;
const REASON = 'demo: locate the machine, stage 3';

/**
 * Assigns the demo agent to those of `contractIds` that are active at stage 3 and have no running
 * assignment to it yet (so a restart adds nothing, and an expired one is renewed), leaving out a
 * case someone took it off (a revoked assignment is a decision the demo does not undo). Returns
 * the contracts assigned now; none when there is no demo agent.
 */
export async function assignDemoAgent(
  db: Sql,
  contractIds: readonly string[],
  now: number,
): Promise<string[]> {
  const { rows } = await db.query<{ id: string }>(
    `select c.id from contract c
     where c.id = any($1::text[]) and c.status = 'active' and c.stage = 3
       and exists (select 1 from app_user u where u.username = $2 and u.disabled_at is null)
       and not exists (select 1 from case_assignment a join app_user u on u.id = a.agent_id
                       where a.contract_id = c.id and u.username = $2
                         and (a.revoked_at is not null or a.assigned_until > $3::timestamptz))
     order by c.id`,
    [contractIds, DEMO_AGENT, new Date(now).toISOString()],
  );
  const until = new Date(now + DEMO_ASSIGNMENT_DAYS * 86_400_000).toISOString();
  const by = { username: DEMO_ASSIGNER, viewer: { ...EVERYTHING, now } };
  for (const { id } of rows) await assignCase(db, id, { agent: DEMO_AGENT, until, reason: REASON }, by);
  return rows.map((r) => r.id);
}
