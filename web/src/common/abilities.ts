/**
 * What the UI offers a signed-in user: the pages and the actions, from the roles alone. The api
 * enforces the same rules per route (shared/roles.ts and each route's access list); the UI only
 * avoids showing buttons that would be refused.
 */
import type { Role } from '../../../shared/roles.ts';
import { REVEALERS } from '../../../shared/scope.ts';

export type Page = 'map' | 'nearest' | 'accounts' | 'approvals' | 'alerts' | 'audit';

export interface Abilities {
  pages: Page[];
  /** Where a sign-in lands. */
  home: Page;
  /** The map's initial minimum stage: field staff look for stage-3 machines first. */
  mapMinStage: 0 | 3;
  recordActivity: boolean;
  requestCommands: boolean;
  approveCommands: boolean;
  acknowledgeAlerts: boolean;
  readAudit: boolean;
  /** Show a case's masked personal data in full, with a reason (audited). */
  revealPersonalData: boolean;
}

const PAGES_BY_ROLE: Record<Role, Page[]> = {
  recovery_agent: ['map', 'nearest', 'accounts', 'alerts'],
  collector: ['accounts', 'map', 'alerts'],
  risk_manager: ['accounts', 'approvals', 'map', 'alerts'],
  auditor: ['audit', 'accounts', 'map', 'alerts'],
  admin: ['map', 'accounts', 'alerts', 'audit'],
};
const ORDER: Page[] = ['map', 'nearest', 'accounts', 'approvals', 'alerts', 'audit'];

export function abilitiesOf(roles: readonly Role[]): Abilities {
  const has = (...r: Role[]) => roles.some((x) => r.includes(x));
  const pages = new Set(roles.flatMap((r) => PAGES_BY_ROLE[r]));
  const first = roles[0];
  return {
    pages: ORDER.filter((p) => pages.has(p)),
    home: first ? PAGES_BY_ROLE[first][0]! : 'map',
    mapMinStage: has('recovery_agent') ? 3 : 0,
    recordActivity: has('collector', 'recovery_agent', 'risk_manager'),
    requestCommands: has('risk_manager'),
    approveCommands: has('risk_manager'),
    acknowledgeAlerts: has('collector', 'recovery_agent', 'risk_manager', 'admin'),
    readAudit: has('auditor', 'admin'),
    revealPersonalData: has(...REVEALERS),
  };
}
