-- Failed sign-ins, for throttling password guessing (api/auth/throttle.ts). In the database rather
-- than in each api process: the api may run as several nodes behind one address, and counts kept
-- per process would give an attacker the allowance once per node.
--
-- One row per attempt that got to the password check and failed (and, for the moment it is being
-- checked, per attempt in progress: counting it up front is what stops parallel guesses from all
-- passing the check at once). Rows older than the counting window are purged as failures come in.

create table login_failure (
  id              bigint generated always as identity primary key,
  -- As typed, normalised (lower case, trimmed): unknown names count like known ones, so the
  -- answer never tells which user names exist.
  username        text not null,
  -- The client's address as the api resolved it; null when the caller has none (the CLI, tests).
  client_address  text,
  at              timestamptz not null default now(),
  -- Set when the user name later signed in successfully: the row no longer counts against the
  -- user name, but still against the address (a sprayer holding one good account must not be
  -- able to wipe its address's count by signing in with it).
  reset           boolean not null default false
);
create index login_failure_username on login_failure (username, at) where not reset;
create index login_failure_address on login_failure (client_address, at);
create index login_failure_at on login_failure (at);
