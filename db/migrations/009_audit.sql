-- The audit log: every security-relevant act (sign-ins, user changes, command transitions, policy
-- overrides), hash-chained so that an edit or a removal is detectable (shared/audit.ts):
--   hash = sha256_hex(prev_hash || E'\n' || canonical JSON of {seq, at, actor, action, subject, detail})
-- with prev_hash of seq 1 = 64 zeros. Rows are written only by api/audit/log.ts, inside the
-- transaction of the act they record, under an advisory lock that serialises appends.

create table audit_log (
  -- Dense: the writer sets seq = last + 1 under its lock (overriding the identity), so a number
  -- taken by a rolled-back append is never skipped and any hole is a removed row.
  seq        bigint generated always as identity primary key,
  -- Milliseconds, as hashed: a finer stored time would not read back as the hashed text.
  at         timestamptz not null check (at = date_trunc('milliseconds', at)),
  actor      text not null check (actor <> ''),
  action     text not null check (action ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$'),
  subject    text not null,
  detail     jsonb not null default '{}' check (jsonb_typeof(detail) = 'object'),
  prev_hash  text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
  hash       text not null unique check (hash ~ '^[0-9a-f]{64}$')
);
create index audit_log_subject on audit_log (subject, seq);

-- Append-only. The chain catches an edit even by someone who disables this trigger; the trigger
-- makes an honest mistake (an UPDATE in a console) fail loudly instead.
create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
  if tg_op = 'TRUNCATE' then
    raise exception 'the audit log is append-only (truncate refused)'
      using errcode = 'integrity_constraint_violation';
  end if;
  raise exception 'the audit log is append-only (% of seq % refused)', lower(tg_op), old.seq
    using errcode = 'integrity_constraint_violation';
end
$$;
create trigger audit_log_no_update before update or delete on audit_log
  for each row execute function audit_log_is_append_only();
-- TRUNCATE bypasses row triggers: refuse it too.
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_is_append_only();
