-- The broker's copy of each device's credential. Mosquitto's password file cannot check a bare
-- SHA-256, and the plain token is known only while the device is provisioned, so that is when its
-- Mosquitto 2.0 hash is computed and kept here: `$7$<iterations>$<base64 salt>$<base64 PBKDF2-SHA512>`
-- (the line mosquitto_passwd writes, minus the user name). The broker's password file can then be
-- rebuilt from the registry at any time (npm run broker:sync, or after every provisioning) without
-- any plain token. Devices provisioned before this column existed have none and stay out of the
-- broker until they are provisioned again.
alter table device add column broker_password_hash text
  check (broker_password_hash is null or broker_password_hash ~ '^\$7\$[0-9]+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$');
