import { describe, expect, it } from 'vitest';
import { ROLES } from '../../../shared/roles.ts';
import { abilitiesOf } from './abilities.ts';

describe('abilities by role', () => {
  it('lands field staff on the stage-3 map and risk managers on the accounts', () => {
    expect(abilitiesOf(['recovery_agent'])).toMatchObject({ home: 'map', mapMinStage: 3 });
    expect(abilitiesOf(['risk_manager'])).toMatchObject({ home: 'accounts', mapMinStage: 0 });
    expect(abilitiesOf(['auditor']).home).toBe('audit');
  });

  it('offers GPS stop and approvals to risk managers only', () => {
    for (const role of ROLES) {
      const a = abilitiesOf([role]);
      expect(a.requestCommands).toBe(role === 'risk_manager');
      expect(a.approveCommands).toBe(role === 'risk_manager');
      expect(a.pages.includes('approvals')).toBe(role === 'risk_manager');
    }
  });

  it('keeps the auditor read-only and gives the audit page to auditors and admins', () => {
    const auditor = abilitiesOf(['auditor']);
    expect(auditor).toMatchObject({ recordActivity: false, acknowledgeAlerts: false, readAudit: true });
    expect(abilitiesOf(['admin']).readAudit).toBe(true);
    expect(abilitiesOf(['collector']).pages).not.toContain('audit');
  });

  it('unites the pages of several roles in a fixed order', () => {
    expect(abilitiesOf(['collector', 'recovery_agent']).pages).toEqual([
      'map',
      'nearest',
      'accounts',
      'alerts',
    ]);
  });
});
