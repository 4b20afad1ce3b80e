/**
 * Sending a recovery agent to a case: the case_assignment table. An agent whose scope is 'assigned'
 * sees a contract, its machine and its records while an assignment runs; each assignment and each
 * early end goes to the audit chain in the same transaction as the row.
 */
import type { Sql } from '../../db/client.ts';
import type { CaseAssignment } from '../../shared/api/contracts.ts';
import { InvalidInputError, NotFoundError } from '../../shared/errors.ts';
import { appendAudit, inTransaction } from '../audit/log.ts';
import { contractInScope, type Viewer } from '../auth/scope.ts';

interface Row {
  id: string;
  contract_id: string;
  agent: string;
  assigned_by: string;
  assigned_at: Date;
  assigned_until: Date;
  reason: string;
  revoked_at: Date | null;
  revoked_by: string | null;
}

const COLUMNS = `a.id::text, a.contract_id, u.username as agent, a.assigned_by, a.assigned_at, a.assigned_until,
  a.reason, a.revoked_at, a.revoked_by`;

const iso = (d: Date | string | number) => new Date(d).toISOString();

const toAssignment = (r: Row, now: number): CaseAssignment => ({
  id: r.id,
  contractId: r.contract_id,
  agent: r.agent,
  assignedBy: r.assigned_by,
  assignedAt: iso(r.assigned_at),
  until: iso(r.assigned_until),
  reason: r.reason,
  revokedAt: r.revoked_at === null ? null : iso(r.revoked_at),
  revokedBy: r.revoked_by,
  active: r.revoked_at === null && new Date(r.assigned_until).getTime() > now,
});

/** The contract's assignments, newest first; null when the contract is not in the viewer's scope. */
export async function listAssignments(db: Sql, contractId: string, viewer: Viewer) {
  const params: unknown[] = [contractId];
  const { rows: found } = await db.query(
    `select 1 from contract c where c.id = $1 and ${contractInScope(viewer, 'c', params)}`,
    params,
  );
  if (found.length === 0) return null;
  const { rows } = await db.query<Row>(
    `select ${COLUMNS} from case_assignment a join app_user u on u.id = a.agent_id
     where a.contract_id = $1 order by a.assigned_at desc, a.id desc`,
    [contractId],
  );
  return rows.map((r) => toAssignment(r, viewer.now));
}

export interface AssignmentInput {
  agent: string;
  until: string;
  reason: string;
}

/**
 * Sends an agent to a case until a moment. The contract must be in the assigner's scope (else
 * NotFoundError, as for any id outside it); the agent must be an enabled recovery agent.
 */
export async function assignCase(
  db: Sql,
  contractId: string,
  input: AssignmentInput,
  by: { username: string; viewer: Viewer },
): Promise<CaseAssignment> {
  const until = Date.parse(input.until);
  if (!(until > by.viewer.now)) throw new InvalidInputError('until must be in the future');
  return inTransaction(db, async (tx) => {
    const params: unknown[] = [contractId];
    const { rows: found } = await tx.query(
      `select 1 from contract c where c.id = $1 and ${contractInScope(by.viewer, 'c', params)}`,
      params,
    );
    if (found.length === 0) throw new NotFoundError(`contract ${contractId}`);
    const { rows: agents } = await tx.query<{ id: string; username: string }>(
      `select id::text, username from app_user
       where username = $1 and disabled_at is null and 'recovery_agent' = any(roles)`,
      [input.agent.trim().toLowerCase()],
    );
    const agent = agents[0];
    if (!agent) throw new InvalidInputError(`${input.agent} is not an enabled recovery agent`);
    const { rows } = await tx.query<{ id: string }>(
      `insert into case_assignment (contract_id, agent_id, assigned_by, assigned_at, assigned_until, reason)
       values ($1, $2::uuid, $3, $4::timestamptz, $5::timestamptz, $6) returning id::text`,
      [contractId, agent.id, by.username, iso(by.viewer.now), iso(until), input.reason],
    );
    const id = rows[0]!.id;
    await appendAudit(tx, {
      actor: by.username,
      action: 'case.assigned',
      subject: `contract:${contractId}`,
      detail: { assignmentId: id, agent: agent.username, until: iso(until), reason: input.reason },
    });
    const { rows: stored } = await tx.query<Row>(
      `select ${COLUMNS} from case_assignment a join app_user u on u.id = a.agent_id where a.id = $1::bigint`,
      [id],
    );
    return toAssignment(stored[0]!, by.viewer.now);
  });
}

/** Ends an assignment now (audited); a second revoke changes nothing. NotFoundError outside the scope. */
export async function revokeAssignment(
  db: Sql,
  contractId: string,
  assignmentId: string,
  by: { username: string; viewer: Viewer },
  reason = '',
): Promise<CaseAssignment> {
  if (!/^\d{1,18}$/.test(assignmentId)) throw new NotFoundError(`assignment ${assignmentId}`);
  return inTransaction(db, async (tx) => {
    const params: unknown[] = [contractId, assignmentId];
    const { rows } = await tx.query<{ revoked: boolean }>(
      `select a.revoked_at is not null as revoked from case_assignment a join contract c on c.id = a.contract_id
       where a.contract_id = $1 and a.id = $2::bigint and ${contractInScope(by.viewer, 'c', params)}
       for update of a`,
      params,
    );
    if (!rows[0]) throw new NotFoundError(`assignment ${assignmentId}`);
    if (!rows[0].revoked) {
      await tx.query(
        'update case_assignment set revoked_at = $2::timestamptz, revoked_by = $3 where id = $1::bigint',
        [assignmentId, iso(by.viewer.now), by.username],
      );
      await appendAudit(tx, {
        actor: by.username,
        action: 'case.unassigned',
        subject: `contract:${contractId}`,
        detail: reason ? { assignmentId, reason } : { assignmentId },
      });
    }
    const { rows: stored } = await tx.query<Row>(
      `select ${COLUMNS} from case_assignment a join app_user u on u.id = a.agent_id where a.id = $1::bigint`,
      [assignmentId],
    );
    return toAssignment(stored[0]!, by.viewer.now);
  });
}
