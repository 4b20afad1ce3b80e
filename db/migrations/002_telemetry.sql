-- Telemetry: every report a device sent, by device time. Only ingest writes here.
create table telemetry (
  device_id    text not null,
  ts           timestamptz not null,           -- device time
  seq          integer,                        -- per-device counter; resets on reboot
  received_at  timestamptz not null default now(),
  lat          double precision not null,
  lon          double precision not null,
  alt          real,
  spd          real,
  hdg          real,
  sat          smallint,
  fix          boolean,
  ign          boolean,
  hrs          double precision,
  pwr          real,
  bat          real,
  rssi         smallint,
  rly          boolean,
  alm          text[]
);
-- A redelivered message (broker retry after a crash) is the same (device, device time, seq) and is
-- absorbed by ON CONFLICT DO NOTHING. NULLS NOT DISTINCT so a report without seq dedups too.
create unique index telemetry_dedup on telemetry (device_id, ts, seq) nulls not distinct;

-- TimescaleDB when the extension is there: a hypertable on device time, 1-day chunks (a day of a
-- large fleet is a few GB, which keeps the recent chunk and its index in memory; see
-- docs/architecture.md). Plain table otherwise. Feature-detected so one migration set serves both.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'timescaledb') then
    begin
      create extension if not exists timescaledb;
      perform create_hypertable('telemetry', 'ts', chunk_time_interval => interval '1 day', migrate_data => true);
    exception when others then
      -- Available but not preloaded (shared_preload_libraries): carry on with a plain table.
      raise notice 'timescaledb not usable (%), telemetry stays a plain table', sqlerrm;
    end;
  end if;
end
$$;

-- The newest usable fix of each device. Only ever moves forward in device time; reports without
-- a valid fix never land here (they are stored in telemetry, but are no location).
create table latest_position (
  device_id    text primary key,
  ts           timestamptz not null,
  received_at  timestamptz not null,
  lat          double precision not null,
  lon          double precision not null,
  spd          real,
  hdg          real,
  ign          boolean,
  hrs          double precision,
  pwr          real,
  bat          real,
  rssi         smallint,
  rly          boolean,
  alm          text[]
);

-- Dead letters: what ingest could not use, with why, so nothing is lost silently.
create table ingest_rejects (
  id           bigint generated always as identity primary key,
  received_at  timestamptz not null default now(),
  topic        text not null,
  device_id    text,
  reason       text not null,
  detail       text,
  payload      text
);
create index ingest_rejects_received on ingest_rejects (received_at);

-- Online/offline as the device (or its last will) last said, retained on the broker.
create table device_status (
  device_id   text primary key,
  online      boolean not null,
  changed_at  timestamptz not null default now()
);
