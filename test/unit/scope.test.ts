/** Masks of personal data and the scope a new user starts with (shared/scope.ts). */
import { describe, expect, it } from 'vitest';
import { ScopeSchema } from '../../shared/api/users.ts';
import { defaultScope, maskNationalId, maskPhone, seesPhones } from '../../shared/scope.ts';

describe('masking personal data', () => {
  it('keeps the region and the last four of a national id, never the birth date', () => {
    expect(maskNationalId('330102198001011234')).toBe('3301**********1234');
    expect(maskNationalId('33010219800101123X')).toBe('3301**********123X');
    expect(maskNationalId('330102198001011234')).not.toContain('19800101');
  });

  it('keeps the carrier prefix and the last four of a phone number', () => {
    expect(maskPhone('13812345678')).toBe('138****5678');
    expect(maskPhone(' 13812345678 ')).toBe('138****5678');
  });

  it('stars a value too short to keep anything of', () => {
    expect(maskPhone('1234567')).toBe('*******');
    expect(maskNationalId('12345678')).toBe('********');
  });

  it('shows phones to the roles that call customers only', () => {
    expect(seesPhones(['collector'])).toBe(true);
    expect(seesPhones(['recovery_agent'])).toBe(true);
    expect(seesPhones(['risk_manager'])).toBe(true);
    expect(seesPhones(['auditor'])).toBe(false);
    expect(seesPhones(['admin'])).toBe(false);
  });
});

describe('scopes', () => {
  it('starts a recovery agent on its assigned cases, everyone else on all', () => {
    expect(defaultScope(['recovery_agent'])).toEqual({ kind: 'assigned' });
    expect(defaultScope(['collector'])).toEqual({ kind: 'all' });
    expect(defaultScope(['recovery_agent', 'risk_manager'])).toEqual({ kind: 'all' });
  });

  it('refuses a dealer scope without dealers and an unknown kind', () => {
    expect(ScopeSchema.safeParse({ kind: 'dealers', dealerIds: [] }).success).toBe(false);
    expect(ScopeSchema.safeParse({ kind: 'everything' }).success).toBe(false);
    expect(ScopeSchema.safeParse({ kind: 'dealers', dealerIds: ['D-1'] }).success).toBe(true);
  });
});
