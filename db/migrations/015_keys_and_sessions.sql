-- Keys and sessions (docs/security.md, "Keys and sessions").
--
-- Secrets the platform keeps are wrapped under a key-encryption key that is never stored here:
-- the device command keys (device.command_key, `kw1$…`, shared/key-wrap.ts) and the pepper device
-- token hashes are keyed with (platform_key). Command keys stored in plain text by older versions
-- are wrapped by the api at its next start (db/keys.ts); this file cannot, it has no key.
create table platform_key (
  name        text primary key,
  wrapped     text not null check (wrapped like 'kw1$%'),
  created_at  timestamptz not null default now()
);

-- Device tokens were kept as unsalted SHA-256. A token cannot be recovered from that to hash it
-- again, so those hashes go: only the embedded broker checks this column (a production broker has
-- its own password file, broker_password_hash, untouched), and a device provisioned again gets the
-- peppered HMAC. The embedded demo fleet is provisioned again at every start.
alter table device alter column token_hash drop not null;
update device set token_hash = null where token_hash not like 'hmac-sha256$%';
alter table device add constraint device_token_hash_keyed
  check (token_hash is null or token_hash like 'hmac-sha256$%');

-- Sessions: every bearer token carries the version of its user it was issued under; signing out,
-- an admin's revocation and disabling a user raise it, which ends every token issued before.
alter table app_user add column token_version integer not null default 0;
