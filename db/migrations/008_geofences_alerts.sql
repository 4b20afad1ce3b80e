-- Location intelligence: geofences with enter/exit events, alerts (one open per kind and device),
-- and the per-device state the rules carry from one ingest batch to the next.

-- A geofence: a GeoJSON Polygon or MultiPolygon in WGS-84 (a circle is kept as its centre and
-- radius and as the polygon that approximates it). Global when contract_id is null, else it
-- applies only to the machine of that contract. The bounding box feeds the in-memory index.
create table geofence (
  id           bigint generated always as identity primary key,
  name         text not null,
  purpose      text not null check (purpose in ('allowed_region', 'job_site', 'yard', 'restricted')),
  contract_id  text references contract (id),
  geometry     jsonb not null,
  center_lat   double precision check (center_lat between -90 and 90),
  center_lon   double precision check (center_lon between -180 and 180),
  radius_m     double precision check (radius_m > 0),
  min_lat      double precision not null,
  min_lon      double precision not null,
  max_lat      double precision not null,
  max_lon      double precision not null,
  -- Bumped on every change (insert, update, delete), so ingest reloads its index only when needed.
  revision     bigint not null,
  deleted_at   timestamptz,
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  check ((center_lat is null) = (radius_m is null) and (center_lon is null) = (radius_m is null))
);
create sequence geofence_revision;
alter table geofence alter column revision set default nextval('geofence_revision');
create index geofence_contract on geofence (contract_id) where deleted_at is null;

-- Whether a device is inside a geofence now (by device time), so each fix yields enter/exit once.
create table geofence_presence (
  device_id    text not null,
  geofence_id  bigint not null references geofence (id) on delete cascade,
  inside       boolean not null,
  since        timestamptz not null,
  primary key (device_id, geofence_id)
);

create table geofence_event (
  id           bigint generated always as identity primary key,
  geofence_id  bigint not null references geofence (id) on delete cascade,
  device_id    text not null,
  kind         text not null check (kind in ('enter', 'exit')),
  ts           timestamptz not null,
  lat          double precision not null,
  lon          double precision not null,
  recorded_at  timestamptz not null default now()
);
create index geofence_event_device on geofence_event (device_id, ts);
create index geofence_event_fence on geofence_event (geofence_id, ts);

create table alert (
  id               bigint generated always as identity primary key,
  kind             text not null check (kind in (
                     'power_cut', 'antenna_cut', 'tamper', 'silent', 'moving_ignition_off',
                     'left_region', 'far_from_sites', 'engine_hours_overdue', 'immobilized_moving')),
  device_id        text not null,
  machine_id       text,
  contract_id      text,
  status           text not null default 'open' check (status in ('open', 'cleared')),
  -- Device time of the first and the latest evidence; cleared_at when the condition had been gone
  -- long enough (hysteresis, so a flapping signal stays one alert).
  raised_at        timestamptz not null,
  last_seen_at     timestamptz not null,
  absent_since     timestamptz,
  cleared_at       timestamptz,
  occurrences      integer not null default 1,
  lat              double precision,
  lon              double precision,
  detail           jsonb not null default '{}',
  acknowledged_at  timestamptz,
  acknowledged_by  text,
  acknowledged_note text,
  created_at       timestamptz not null default now()
);
-- One open alert per kind and device: the guard against alert storms, whatever raced.
create unique index alert_one_open on alert (kind, device_id) where status = 'open';
create index alert_device on alert (device_id, raised_at);
create index alert_contract on alert (contract_id, raised_at);
create index alert_open on alert (raised_at) where status = 'open';

-- What the rules remember per device between batches (device time of the newest report seen).
create table device_rule_state (
  device_id          text primary key,
  last_ts            timestamptz not null,
  last_received_at   timestamptz not null,
  lat                double precision,
  lon                double precision,
  -- Engine hours when the account was first seen at stage >= 2 (null below that stage).
  hours_mark         double precision,
  -- Since when the relay has held a stopped machine (rly on with ignition off); null when released.
  immobilized_since  timestamptz
);
