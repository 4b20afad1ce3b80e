-- Collections: the customer's places, where payments came from, and the collection records
-- (activities) that are evidence in court. Records are immutable: a correction is a new record
-- that refers to the old one, and the database refuses UPDATE and DELETE on them.

-- A customer's addresses: home and the job sites where the machine is expected to work.
create table customer_address (
  id           bigint generated always as identity primary key,
  customer_id  text not null references customer (id),
  kind         text not null check (kind in ('home', 'job_site', 'office', 'other')),
  address      text not null,
  lat          double precision check (lat between -90 and 90),
  lon          double precision check (lon between -180 and 180),
  created_at   timestamptz not null default now()
);
create index customer_address_customer on customer_address (customer_id);

-- Where a payment was recorded from ('api', 'import', 'demo'); the reference stays the idempotency key.
alter table payment add column source text not null default 'api';

create table activity (
  id                bigint generated always as identity primary key,
  contract_id       text not null references contract (id),
  kind              text not null check (kind in (
                      'sms', 'call', 'visit', 'lawyer_letter', 'promise_to_pay', 'dispute_raised',
                      'dispute_resolved', 'gps_stop_warning', 'tow', 'litigation', 'note')),
  -- Who recorded it (a user name) and when it happened; recorded_at is the server's clock.
  actor             text not null,
  occurred_at       timestamptz not null,
  recorded_at       timestamptz not null default now(),
  channel           text check (channel in ('sms', 'phone', 'visit', 'letter', 'email', 'wechat', 'device', 'other')),
  outcome           text,
  body              text not null default '',
  -- promise_to_pay
  promised_date     date,
  promised_amount   bigint check (promised_amount > 0),
  -- dispute_raised
  dispute_category  text check (dispute_category in ('quality', 'service', 'unpaid_project', 'insurance', 'accident', 'other')),
  -- A correction names the record it replaces; a dispute_resolved names the dispute_raised it closes.
  corrects_id       bigint references activity (id),
  resolves_id       bigint references activity (id),
  check (kind <> 'promise_to_pay' or (promised_date is not null and promised_amount is not null)),
  check (kind <> 'dispute_raised' or dispute_category is not null),
  check (kind <> 'dispute_resolved' or resolves_id is not null)
);
create index activity_contract on activity (contract_id, occurred_at);

create function activity_is_immutable() returns trigger language plpgsql as $$
begin
  raise exception 'collection records are immutable: record a correction instead (activity %)', old.id
    using errcode = 'integrity_constraint_violation';
end
$$;
create trigger activity_no_update before update or delete on activity
  for each row execute function activity_is_immutable();

-- The account's figures as of contract.stage_as_of, cached next to the stage for the accounts list
-- (sortable, paginated). Like the stage, they are whatever the engines make of the stored schedule,
-- payments and records (api/contracts/account.ts); recomputed on payment, record and daily.
alter table contract
  add column overdue_instalments integer not null default 0,
  add column overdue_amount      bigint not null default 0,
  add column days_past_due       integer not null default 0,
  add column penalty             bigint not null default 0,
  add column next_action         text not null default 'none';
