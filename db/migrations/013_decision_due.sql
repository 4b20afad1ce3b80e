-- An engaged GPS stop needs a decision within weeks (China Civil Code art. 591, the duty to
-- mitigate; art. 748 on interfering without cause): a machine locked for months while rent is still
-- claimed weakens the claim. The platform raises a 'decision_due' alert for the risk managers when a
-- stop has been engaged longer than the policy profile's decisionDays, and again every week
-- (docs/commands.md).
alter table alert drop constraint alert_kind_check;
alter table alert add constraint alert_kind_check check (kind in (
  'power_cut', 'antenna_cut', 'tamper', 'silent', 'moving_ignition_off', 'left_region', 'far_from_sites',
  'engine_hours_overdue', 'immobilized_moving', 'decision_due'));
