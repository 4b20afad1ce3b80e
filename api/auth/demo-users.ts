/**
 * The demo sign-ins of the embedded platform, one per role, all with the password "demo". Created
 * at start only when the database is the embedded one; on PostgreSQL only on request
 * (`npm run users -- demo`), so a production database never gets known passwords by accident.
 */
import type { Sql } from '../../db/client.ts';
import type { Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';
import { createUser, findUserByUsername, setUserScope, UserInputError } from './users.ts';

export const DEMO_PASSWORD = 'demo';

/**
 * Each with the scope a real user of its roles starts with (shared/scope.ts defaultScope): the
 * desk, risk, audit and admin see every dealer; the agent sees only the cases it is sent to (the
 * embedded demo sends it to the fleet's stage-3 cases, api/contracts/demo-assignments.ts).
 */
export const DEMO_USERS: readonly { username: string; name: string; roles: Role[]; scope: Scope }[] = [
  {
    username: 'collector',
    name: 'Chen Jing (collections desk)',
    roles: ['collector'],
    scope: { kind: 'all' },
  },
  {
    username: 'agent',
    name: 'Wang Lei (field recovery)',
    roles: ['recovery_agent'],
    scope: { kind: 'assigned' },
  },
  { username: 'risk1', name: 'Li Na (risk)', roles: ['risk_manager'], scope: { kind: 'all' } },
  { username: 'risk2', name: 'Zhao Min (risk)', roles: ['risk_manager'], scope: { kind: 'all' } },
  { username: 'auditor', name: 'Sun Hui (audit)', roles: ['auditor'], scope: { kind: 'all' } },
  { username: 'admin', name: 'Platform administrator', roles: ['admin'], scope: { kind: 'all' } },
];

/** Creates the demo users that do not exist yet (hashing in parallel); returns the ones created. */
export async function ensureDemoUsers(db: Sql): Promise<string[]> {
  const missing = [];
  for (const u of DEMO_USERS) {
    const stored = await findUserByUsername(db, u.username);
    if (!stored) missing.push(u);
    else if (stored.scope.kind === 'all' && u.scope.kind === 'assigned') await narrowEarlierDemoAgent(db, u);
  }
  const created = await Promise.all(
    missing.map(async (u) => {
      try {
        await createUser(db, { ...u, password: DEMO_PASSWORD }, 'system:demo-users');
        return u.username;
      } catch (e) {
        // Another process created it in the meantime: that is the wanted outcome too.
        if (e instanceof UserInputError) return null;
        throw e;
      }
    }),
  );
  return created.filter((u): u is string => u !== null);
}

/**
 * Earlier versions made the demo agent with the scope `all`, so a data folder made then would go on
 * showing every dealer's cases to it. Narrowed to its own scope (audited as user.scope), unless
 * someone set that scope on purpose since: then a user.scope row names it, and it is left alone.
 */
async function narrowEarlierDemoAgent(db: Sql, u: (typeof DEMO_USERS)[number]): Promise<void> {
  const { rows } = await db.query(
    `select 1 from audit_log where action = 'user.scope' and subject = $1 limit 1`,
    [`user:${u.username}`],
  );
  if (rows.length === 0) await setUserScope(db, u.username, u.scope, 'system:demo-users');
}
