-- Every api node keeps the broker's password file (MOSQUITTO_PASSWORD_FILE), so every node must hear
-- of every change of who may log in, whichever node — or script, or psql session — made it. A
-- statement that adds or removes devices, or changes a broker hash or whether a device is
-- disabled, sends a NOTIFY on `device_credentials` from its own transaction: PostgreSQL delivers it
-- to the listening nodes (db/listener.ts) only when that transaction commits, and not at all when it
-- rolls back. Per statement, not per row, and PostgreSQL folds identical notifications of one
-- transaction into one: provisioning 1,000 devices at once is one notification. The payload is
-- empty; a node rereads the whole registry (broker/mosquitto-sync.ts).
create function notify_device_credentials() returns trigger
language plpgsql as $$
begin
  perform pg_notify('device_credentials', '');
  return null;
end
$$;

create trigger device_credentials_changed
  after insert or delete or truncate or update of broker_password_hash, disabled_at on device
  for each statement execute function notify_device_credentials();
