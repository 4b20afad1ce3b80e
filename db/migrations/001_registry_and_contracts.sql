-- The registry (machines, devices and which device sits on which machine) and the finance side
-- (customers, dealers, contracts, instalments, payments). Money is integer fen (bigint), never float.

create table dealer (
  id          text primary key,
  name        text not null,
  province    text,
  created_at  timestamptz not null default now()
);

create table customer (
  id            text primary key,
  name          text not null,
  phone         text,
  national_id   text,
  home_address  text,
  created_at    timestamptz not null default now()
);

create table machine (
  id          text primary key,
  make        text not null,
  model       text not null,
  type        text not null,
  serial      text not null unique,
  year        integer,
  created_at  timestamptz not null default now()
);

-- A GPS box. The token is never stored, only its SHA-256 (tokens are 128-bit random, so a fast
-- hash is enough, and MQTT CONNECT storms stay cheap).
create table device (
  id          text primary key,
  token_hash  text not null,
  model       text,
  created_at  timestamptz not null default now(),
  disabled_at timestamptz
);

-- Devices get moved between machines: one row per period a device sat on a machine.
create table installation (
  id            bigint generated always as identity primary key,
  device_id     text not null references device (id),
  machine_id    text not null references machine (id),
  installed_at  timestamptz not null default now(),
  removed_at    timestamptz,
  check (removed_at is null or removed_at >= installed_at)
);
create unique index installation_one_active_per_device on installation (device_id) where removed_at is null;
create unique index installation_one_active_per_machine on installation (machine_id) where removed_at is null;

create table contract (
  id                 text primary key,
  number             text not null unique,
  kind               text not null check (kind in ('loan', 'finance_lease', 'instalment_sale')),
  status             text not null default 'active' check (status in ('active', 'settled', 'closed')),
  dealer_id          text references dealer (id),
  customer_id        text not null references customer (id),
  machine_id         text not null references machine (id),
  currency           text not null default 'CNY',
  principal          bigint not null check (principal >= 0),
  down_payment       bigint not null default 0 check (down_payment >= 0),
  start_date         date not null,
  term_months        integer not null check (term_months > 0),
  annual_rate_bp     integer not null default 0 check (annual_rate_bp >= 0),
  penalty_rate_bp    integer not null default 0 check (penalty_rate_bp >= 0),
  grace_days         integer not null default 0 check (grace_days >= 0),
  timezone           text not null default 'Asia/Shanghai',
  -- Cached result of the overdue engine (shared/overdue.ts) as of stage_as_of; recomputed on
  -- payment and daily. The engine, not this column, is the authority.
  stage              smallint not null default 0 check (stage between 0 and 3),
  stage_as_of        date,
  created_at         timestamptz not null default now()
);
create index contract_machine on contract (machine_id) where status = 'active';
create index contract_stage on contract (stage) where status = 'active';

create table guarantor (
  id           bigint generated always as identity primary key,
  contract_id  text not null references contract (id),
  name         text not null,
  phone        text,
  relation     text
);

create table instalment (
  contract_id  text not null references contract (id),
  seq          integer not null check (seq > 0),
  due_date     date not null,
  principal    bigint not null check (principal >= 0),
  interest     bigint not null default 0 check (interest >= 0),
  fees         bigint not null default 0 check (fees >= 0),
  primary key (contract_id, seq)
);

create table payment (
  id           bigint generated always as identity primary key,
  contract_id  text not null references contract (id),
  paid_on      date not null,
  amount       bigint not null check (amount > 0),
  reference    text not null,
  created_at   timestamptz not null default now(),
  unique (contract_id, reference)
);

create table stage_change (
  id           bigint generated always as identity primary key,
  contract_id  text not null references contract (id),
  from_stage   smallint,
  to_stage     smallint not null,
  changed_at   timestamptz not null default now(),
  reason       text not null
);
create index stage_change_contract on stage_change (contract_id, changed_at);
