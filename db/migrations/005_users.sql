-- The platform's users (staff, not customers). Passwords are stored only as scrypt hashes with
-- their salt and cost ("scrypt$N$r$p$salt$key", api/auth/password.ts). Roles are checked here as
-- well as in code, so a typo in a manual insert cannot create a role nobody enforces.

create table app_user (
  id             uuid primary key default gen_random_uuid(),
  username       text not null unique
                 check (username ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  display_name   text not null check (length(trim(display_name)) > 0),
  password_hash  text not null check (password_hash like 'scrypt$%'),
  roles          text[] not null
                 check (cardinality(roles) > 0
                        and roles <@ array['collector', 'recovery_agent', 'risk_manager', 'auditor', 'admin']::text[]),
  disabled_at    timestamptz,
  created_at     timestamptz not null default now()
);
