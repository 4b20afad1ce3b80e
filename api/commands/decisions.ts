/**
 * An engaged GPS stop needs a decision within weeks: repossess, litigate or release (the duty to
 * mitigate, China Civil Code art. 591; art. 748 on interfering without cause). A stop engaged longer
 * than the profile's `decisionDays` raises a `decision_due` alert for the risk managers, and raises
 * it again every `decisionRepeatDays` while the machine stays locked; each raise goes to the audit
 * chain. The release that ends the stop clears it. One of the dispatcher's steps.
 */
import type { Sql } from '../../db/client.ts';
import { decisionDueAt, type PolicyProfile } from '../../shared/policy.ts';
import type { CommandFeed } from './feed.ts';

const DAY = 86_400_000;

/** `i` is an engaged stop: an executed immobilize that no release taken by the box has ended. */
const ENGAGED = `i.type = 'immobilize' and i.state = 'EXECUTED'
  and not exists (select 1 from command r where r.device_id = i.device_id and r.type = 'release'
                  and r.seq > i.seq and r.state in ('ACKED', 'EXECUTED'))`;

/** Engaged stops (an executed immobilize, no release taken since) and their open decision alert. */
async function engagedStops(sql: Sql) {
  const { rows } = await sql.query<{
    id: string;
    device_id: string;
    contract_id: string | null;
    profile: string;
    executed_at: Date;
    alert_id: string | null;
    last_seen_at: Date | null;
  }>(
    `select i.id, i.device_id, i.contract_id, i.profile, i.executed_at, a.id::text as alert_id, a.last_seen_at
     from command i
     left join alert a on a.kind = 'decision_due' and a.device_id = i.device_id and a.status = 'open'
     where ${ENGAGED}`,
  );
  return rows;
}

/**
 * Raises, repeats or clears the decision alerts as of `now`; returns the ids of the alerts that
 * changed (for the live feed). `profileOf` gives a command's policy profile by its name.
 */
export async function raiseDecisionsDue(
  db: Sql,
  feed: CommandFeed,
  profileOf: (name: string) => PolicyProfile,
  now: number,
): Promise<string[]> {
  const changed: string[] = [];
  const at = new Date(now).toISOString();
  for (const s of await engagedStops(db)) {
    const p = profileOf(s.profile);
    const dueAt = decisionDueAt(new Date(s.executed_at).getTime(), p);
    if (now < dueAt) continue;
    const repeatDue =
      s.last_seen_at !== null && now - new Date(s.last_seen_at).getTime() >= p.decisionRepeatDays * DAY;
    if (s.alert_id !== null && !repeatDue) continue;
    await feed.run(async (tx, _onTransition, record) => {
      const days = Math.floor((now - new Date(s.executed_at).getTime()) / DAY);
      const detail = { commandId: s.id, engagedSince: new Date(s.executed_at).toISOString(), days };
      const { rows } =
        s.alert_id === null
          ? await tx.query<{ id: string }>(
              `insert into alert (kind, device_id, machine_id, contract_id, raised_at, last_seen_at, detail)
               select 'decision_due', $1, i.machine_id, $2, $3, $3, $4::jsonb
               from (select 1) one left join installation i on i.device_id = $1 and i.removed_at is null
               on conflict (kind, device_id) where status = 'open' do nothing
               returning id::text`,
              [s.device_id, s.contract_id, at, JSON.stringify(detail)],
            )
          : // Only while the repeat is still due: two nodes that both read it due would otherwise
            // both count a repeat. The second waits for the first's row lock, then finds
            // last_seen_at moved on (PostgreSQL checks the condition again on the row as updated).
            await tx.query<{ id: string }>(
              `update alert set last_seen_at = $2, occurrences = occurrences + 1, detail = $3::jsonb,
                 acknowledged_at = null, acknowledged_by = null, acknowledged_note = null
               where id = $1 and status = 'open' and last_seen_at <= $4 returning id::text`,
              [
                s.alert_id,
                at,
                JSON.stringify(detail),
                new Date(now - p.decisionRepeatDays * DAY).toISOString(),
              ],
            );
      if (!rows[0]) return; // another node got there first
      changed.push(rows[0].id);
      await record({
        actor: 'system',
        action: 'gps_stop.decision_due',
        subject: `command:${s.id}`,
        detail: { ...detail, deviceId: s.device_id, contractId: s.contract_id, repeat: s.alert_id !== null },
      });
    });
  }
  // A stop that ended (released) needs no decision any more.
  const { rows: cleared } = await db.query<{ id: string }>(
    `update alert a set status = 'cleared', cleared_at = $1
     where a.kind = 'decision_due' and a.status = 'open'
       and not exists (select 1 from command i where i.device_id = a.device_id and ${ENGAGED})
     returning a.id::text`,
    [at],
  );
  return [...changed, ...cleared.map((r) => r.id)];
}
