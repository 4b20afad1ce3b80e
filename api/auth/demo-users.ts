/**
 * The demo sign-ins of the embedded platform, one per role, all with the password "demo". Created
 * at start only when the database is the embedded one; on PostgreSQL only on request
 * (`npm run users -- demo`), so a production database never gets known passwords by accident.
 */
import type { Sql } from '../../db/client.ts';
import type { Role } from '../../shared/roles.ts';
import type { Scope } from '../../shared/scope.ts';
import { createUser, findUserByUsername, UserInputError } from './users.ts';

export const DEMO_PASSWORD = 'demo';

/**
 * Scope all for each, the agent included: the demo shows the whole simulated fleet to every role
 * (a real recovery agent starts on the cases assigned to it, shared/scope.ts defaultScope).
 */
export const DEMO_USERS: readonly { username: string; name: string; roles: Role[]; scope: Scope }[] = [
  {
    username: 'collector',
    name: 'Chen Jing (collections desk)',
    roles: ['collector'],
    scope: { kind: 'all' },
  },
  { username: 'agent', name: 'Wang Lei (field recovery)', roles: ['recovery_agent'], scope: { kind: 'all' } },
  { username: 'risk1', name: 'Li Na (risk)', roles: ['risk_manager'], scope: { kind: 'all' } },
  { username: 'risk2', name: 'Zhao Min (risk)', roles: ['risk_manager'], scope: { kind: 'all' } },
  { username: 'auditor', name: 'Sun Hui (audit)', roles: ['auditor'], scope: { kind: 'all' } },
  { username: 'admin', name: 'Platform administrator', roles: ['admin'], scope: { kind: 'all' } },
];

/** Creates the demo users that do not exist yet (hashing in parallel); returns the ones created. */
export async function ensureDemoUsers(db: Sql): Promise<string[]> {
  const missing = [];
  for (const u of DEMO_USERS) if (!(await findUserByUsername(db, u.username))) missing.push(u);
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
