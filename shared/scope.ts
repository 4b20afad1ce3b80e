/**
 * What a user sees: their scope (every dealer, some dealers, or the cases assigned to them) and
 * which personal data their roles see in full. Pure; the api turns a scope into a filter in each
 * query (api/auth/scope-sql.ts) and masks personal data with the functions here.
 */
import type { Role } from './roles.ts';

export const SCOPE_KINDS = ['all', 'dealers', 'assigned'] as const;
export type ScopeKind = (typeof SCOPE_KINDS)[number];

export type Scope =
  | { kind: 'all' }
  | { kind: 'dealers'; dealerIds: string[] }
  /** Recovery agents: the contracts assigned to them, while the assignment runs. */
  | { kind: 'assigned' };

/** A new user's scope when none is given: agents see what they are sent to, others everything. */
export function defaultScope(roles: readonly Role[]): Scope {
  return roles.length > 0 && roles.every((r) => r === 'recovery_agent')
    ? { kind: 'assigned' }
    : { kind: 'all' };
}

export function describeScope(s: Scope): string {
  if (s.kind === 'dealers') return `dealers ${s.dealerIds.join(', ')}`;
  return s.kind === 'all' ? 'all' : 'assigned cases';
}

/**
 * Who needs a customer's or guarantor's phone number to work: the desk calls, the field agent calls
 * before a visit, the risk manager escalates. Auditors and administrators see it masked.
 */
export const PHONE_READERS: readonly Role[] = ['collector', 'recovery_agent', 'risk_manager'];
/**
 * Nobody sees a national id in full by default; these roles may reveal it (or a masked phone) for a
 * case in their scope, giving a reason that goes to the audit chain. The auditor only reads.
 */
export const REVEALERS: readonly Role[] = ['collector', 'recovery_agent', 'risk_manager'];

export const seesPhones = (roles: readonly Role[]) => roles.some((r) => PHONE_READERS.includes(r));

/** Keeps `head` and `tail` characters, stars in between; too short a value is starred whole. */
function keepEnds(value: string, head: number, tail: number): string {
  const chars = [...value];
  if (chars.length <= head + tail) return '*'.repeat(chars.length);
  return chars.slice(0, head).join('') + '*'.repeat(chars.length - head - tail) + chars.slice(-tail).join('');
}

/** `330102198001011234` → `3301**********1234`: region and check digits, never the birth date. */
export const maskNationalId = (id: string): string => keepEnds(id.trim(), 4, 4);

/** `13812345678` → `138****5678`, `+86 138…` → `+86*******5678` (carrier and last four only). */
export const maskPhone = (phone: string): string => keepEnds(phone.trim(), 3, 4);

/** A value that may be null, masked or not. */
export const masked = (value: string | null, mask: (v: string) => string, full: boolean) =>
  value === null || full ? value : mask(value);
