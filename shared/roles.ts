/**
 * Who may do what: the five roles of the platform's users and the access a route declares. Pure;
 * the api enforces it (api/auth/access.ts) and the web app uses it to show only what a role may do.
 */

export const ROLES = ['collector', 'recovery_agent', 'risk_manager', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** What a route declares: open to anyone, or the roles that may call it. */
export type Access = 'public' | readonly Role[];

/** Every role, for routes any signed-in user may call (read-only ones, since the auditor is among them). */
export const ALL_ROLES: readonly Role[] = ROLES;

export const ROLE_LABELS: Record<Role, string> = {
  collector: 'Collector',
  recovery_agent: 'Recovery agent',
  risk_manager: 'Risk manager',
  auditor: 'Auditor',
  admin: 'Administrator',
};

/** Methods that change nothing; the auditor may only be granted these. */
export const READ_METHODS: readonly string[] = ['GET', 'HEAD', 'OPTIONS'];

export function isRole(s: unknown): s is Role {
  return typeof s === 'string' && (ROLES as readonly string[]).includes(s);
}

/**
 * Whether a user holding `roles` may call a route declaring `access`. No role is a wildcard:
 * `admin` runs users and settings, but collecting, recovering and approving stay with the roles
 * that answer for them (segregation of duties), so admin must be listed like any other role.
 */
export function mayCall(roles: readonly Role[], access: Access): boolean {
  if (access === 'public') return true;
  return roles.some((r) => access.includes(r));
}

/** Why a declaration is wrong, or null: the auditor is read-only, and a route needs at least one role. */
export function accessProblem(method: string, access: Access): string | null {
  if (access === 'public') return null;
  if (!Array.isArray(access) || access.length === 0)
    return 'access must be "public" or a non-empty list of roles';
  const unknown = access.filter((r) => !isRole(r));
  if (unknown.length > 0) return `unknown role(s) ${unknown.join(', ')}; roles are ${ROLES.join(', ')}`;
  if (access.includes('auditor') && !READ_METHODS.includes(method.toUpperCase())) {
    return `the auditor is read-only and may not be granted ${method}`;
  }
  return null;
}
