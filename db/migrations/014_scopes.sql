-- Scopes and personal data by need (docs/security.md, "Scopes and personal data").
--
-- A user sees what their scope holds: 'all', the contracts of a set of dealers ('dealers'), or the
-- cases assigned to them ('assigned', the recovery agents). The api filters every answer by it in
-- the query. Recovery agents start with 'assigned': an agent sees a machine once sent to it.
alter table app_user add column scope text not null default 'all'
  check (scope in ('all', 'dealers', 'assigned'));
alter table app_user add column scope_dealers text[] not null default '{}';
alter table app_user add constraint app_user_scope_dealers_check
  check ((scope = 'dealers') = (cardinality(scope_dealers) > 0));
update app_user set scope = 'assigned' where roles = array['recovery_agent']::text[];

-- Sending an agent to a case: who sent whom to which contract, when, until when; revoked early
-- with who and why. Rows are never deleted: they are the record of who could see the case.
create table case_assignment (
  id             bigint generated always as identity primary key,
  contract_id    text not null references contract (id),
  agent_id       uuid not null references app_user (id),
  assigned_by    text not null,
  assigned_at    timestamptz not null default now(),
  assigned_until timestamptz not null,
  reason         text not null check (length(trim(reason)) > 0),
  revoked_at     timestamptz,
  revoked_by     text,
  check (assigned_until > assigned_at),
  check ((revoked_at is null) = (revoked_by is null))
);
create index case_assignment_agent on case_assignment (agent_id, contract_id) where revoked_at is null;
create index case_assignment_contract on case_assignment (contract_id);

-- Customer ids were built from the national id ('NID-<id>') when the lender gave none, so the id
-- itself carried it into URLs, logs and exports. Such customers get an id that says nothing.
create temporary table customer_renamed on commit drop as
  select id as old_id, 'CU-' || replace(gen_random_uuid()::text, '-', '') as new_id
  from customer where id like 'NID-%';
insert into customer (id, name, phone, national_id, home_address, created_at)
  select r.new_id, c.name, c.phone, c.national_id, c.home_address, c.created_at
  from customer c join customer_renamed r on r.old_id = c.id;
update contract set customer_id = r.new_id from customer_renamed r where contract.customer_id = r.old_id;
update customer_address set customer_id = r.new_id from customer_renamed r
  where customer_address.customer_id = r.old_id;
delete from customer where id in (select old_id from customer_renamed);
