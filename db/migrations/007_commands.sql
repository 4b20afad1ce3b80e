-- Remote commands to machines (immobilize, release, warn, locate): the command, its approvals and
-- every transition, with who, when, why and the policy's evaluation at that moment. The lifecycle
-- and the policy are in shared/commands.ts and shared/policy.ts; api/commands/ is the outbox
-- dispatcher that moves commands along and publishes them to devices.

-- The key the box checks command signatures with (HMAC-SHA256, 32 random bytes, hex). The platform
-- must be able to sign, so it is kept, not hashed; it is given to the box once, at provisioning.
alter table device add column command_key text;

create table command (
  id             text primary key,
  -- Creation order: release-on-cure and "a release supersedes" compare commands by it.
  seq            bigint generated always as identity unique,
  device_id      text not null references device (id),
  contract_id    text references contract (id),
  type           text not null check (type in ('immobilize', 'release', 'warn', 'locate')),
  state          text not null check (state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED', 'EXECUTED',
                                                'REJECTED', 'CANCELLED', 'EXPIRED', 'FAILED')),
  reason         text not null,
  requested_by   text not null,
  requested_at   timestamptz not null default now(),
  profile        text not null,
  -- An emergency release: a release while the account is still uncured; the immobilizer re-arms
  -- (a new immobilize by the system) at rearm_at unless the account was cured by then.
  emergency      boolean not null default false,
  rearm_at       timestamptz,
  expires_at     timestamptz not null,
  -- Fixed at the first send, so every resend is byte for byte the same signed message.
  issued_at      timestamptz,
  nonce          text,
  signature      text,
  attempts       integer not null default 0,
  last_sent_at   timestamptz,
  acked_at       timestamptz,
  ack_reason     text,
  executed_at    timestamptz,
  updated_at     timestamptz not null default now()
);
create index command_device on command (device_id, seq);
create index command_open on command (state) where state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED');
-- At most one immobilize per device on its way to the machine.
create unique index command_one_live_immobilize on command (device_id)
  where type = 'immobilize' and state in ('REQUESTED', 'APPROVED', 'QUEUED', 'SENT', 'ACKED');

create table command_approval (
  command_id  text not null references command (id),
  by_user     text not null,
  roles       text[] not null,
  decision    text not null check (decision in ('approve', 'reject')),
  note        text not null default '',
  at          timestamptz not null default now(),
  primary key (command_id, by_user)
);

create table command_transition (
  id          bigint generated always as identity primary key,
  command_id  text not null references command (id),
  from_state  text,
  to_state    text not null,
  at          timestamptz not null default now(),
  actor       text not null,
  reason      text not null,
  -- The policy's evaluation at that moment: { decision, reasons, missing, profile }.
  policy      jsonb
);
create index command_transition_command on command_transition (command_id, id);

-- A documented override of an open dispute, for one contract, by a risk manager (the policy lets an
-- immobilize through a dispute only with one of these on record).
create table dispute_override (
  id          bigint generated always as identity primary key,
  contract_id text not null references contract (id),
  by_user     text not null,
  reason      text not null,
  at          timestamptz not null default now()
);
