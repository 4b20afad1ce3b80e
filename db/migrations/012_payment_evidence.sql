-- Money is evidence (docs/contracts.md, "Payments: who booked them, who confirmed them"): a payment
-- cures an account and so releases an immobilized machine. Each payment keeps who booked it and how
-- (source: 'api' = entered by hand, 'import' = a bank file, whose sha256 is kept; 'demo'), and a
-- hand-entered one that would lower the stage of an account with a GPS stop under way counts only
-- once a second person (a risk manager, not the booker) has confirmed it. A bounced payment is
-- reversed, never deleted: it stops counting and the stage rises again.
alter table payment
  add column booked_by text not null default 'system',
  add column import_sha256 text,
  add column needs_confirmation boolean not null default false,
  add column confirmed_by text,
  add column confirmed_at timestamptz,
  add column reversed_by text,
  add column reversed_at timestamptz,
  add column reversal_reason text;
