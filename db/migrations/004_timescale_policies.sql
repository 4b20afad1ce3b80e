-- Storage policies for telemetry, and the daily summary per machine the api reads.
--
-- On TimescaleDB (telemetry is a hypertable, 002): native compression segmented by device and
-- ordered by device time, a compression policy, a retention policy and a continuous aggregate
-- `telemetry_daily` with a refresh policy. On plain PostgreSQL (and the embedded PGlite) the same
-- `telemetry_daily` is an ordinary view over the same query, so api code reads one relation with
-- the same columns and the same numbers on both engines. Reasons for each figure: the storage
-- section of docs/architecture.md.

-- True when telemetry is a TimescaleDB hypertable. Dynamic SQL: the timescaledb_information schema
-- does not exist on plain PostgreSQL, so it must not be named in a statement that is planned there.
create function telemetry_on_timescaledb() returns boolean
language plpgsql stable as $$
declare
  found boolean;
begin
  if not exists (select 1 from pg_extension where extname = 'timescaledb') then
    return false;
  end if;
  execute $q$select exists (select 1 from timescaledb_information.hypertables
                             where hypertable_schema = current_schema() and hypertable_name = 'telemetry')$q$
    into found;
  return found;
end
$$;

-- Distance travelled, in km, from consecutive fixes in device-time order: the great-circle
-- (haversine, mean Earth radius 6371.0088 km) length of the path through the fixes. A parked
-- machine's fix wanders by metres; summing that wander would invent kilometres a day, so a fix
-- counts only once it is at least 30 m from the last fix that counted (the anchor), and then
-- becomes the anchor. Slow creeping still adds up (it passes 30 m eventually, whatever the report
-- rate); what is lost is under 30 m per device and day. State: {anchor lat, anchor lon, km}, empty
-- until the first fix. STRICT: a row with a null lat/lon leaves the state as it is.
create function telemetry_travel_step(state double precision[], lat double precision, lon double precision)
returns double precision[]
language sql immutable strict parallel safe as $$
  select case
    when cardinality(state) = 0 then array[lat, lon, 0]
    when leg.km >= 0.030 then array[lat, lon, state[3] + leg.km]
    else state
  end
  from (select 2 * 6371.0088 * asin(least(1, sqrt(
          sin(radians(lat - state[1]) / 2) ^ 2
          + cos(radians(state[1])) * cos(radians(lat)) * sin(radians(lon - state[2]) / 2) ^ 2))) as km) leg
$$;

create function telemetry_travel_final(state double precision[]) returns double precision
language sql immutable strict parallel safe as $$
  select coalesce(state[3], 0)
$$;

-- Order matters (it is a path): call it as telemetry_travel_km(lat, lon order by ts, seq).
create aggregate telemetry_travel_km(double precision, double precision) (
  sfunc = telemetry_travel_step,
  stype = double precision[],
  finalfunc = telemetry_travel_final,
  initcond = '{}'
);

-- telemetry_daily: one row per device and local day.
--   day           00:00 Asia/Shanghai of that day, as timestamptz. The machines work in China: a
--                 local day keeps a day shift (and most night shifts) in one row, where a UTC day
--                 would cut the Chinese working day at 08:00. China has no daylight saving time, so
--                 every day is 24 h.
--   reports       telemetry rows stored that day (a long silence shows as few or none).
--   engine_hours  max(hrs) - min(hrs): the engine-hour meter advanced that day, as the box counts
--                 it. The hours between a day's last and the next day's first report fall between
--                 rows (at night, normally zero).
--   distance_km   telemetry_travel_km over the day's usable fixes (fix not false, not 0,0 — as
--                 hasUsableFix in shared/protocol.ts). Consecutive fixes rather than speed × time:
--                 speed × time needs each report's predecessor (a window function), which a
--                 continuous aggregate cannot hold, and the reported speed of a machine on a
--                 trailer with the ignition off is often missing or zero, though the machine moves.
do $$
declare
  daily constant text := $q$
    select device_id,
           %s as day,
           count(*) as reports,
           max(hrs) - min(hrs) as engine_hours,
           coalesce(telemetry_travel_km(lat, lon order by ts, seq)
                      filter (where fix is not false and not (lat = 0 and lon = 0)), 0) as distance_km
    from telemetry
    group by device_id, 2
  $q$;
begin
  if not telemetry_on_timescaledb() then
    execute format('create view telemetry_daily as %s', format(daily, $b$date_trunc('day', ts, 'Asia/Shanghai')$b$));
    return;
  end if;

  -- Segment by device: the api reads one machine's trail at a time, and a segment (up to 1,000 rows
  -- of one device) then decompresses only that machine's reports. Ordered by device time, newest
  -- first, as the trail is read; seq next, so the unique key (device_id, ts, seq) that absorbs
  -- redeliveries is fully covered and a late insert checks conflicts inside one segment.
  alter table telemetry set (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'device_id',
    timescaledb.compress_orderby = 'ts desc, seq'
  );
  -- Compress day chunks once they are 7 days old. Boxes out of coverage upload their backlog late;
  -- a backlog into a compressed chunk is accepted (the unique check decompresses the device's
  -- segment, and the policy compresses the chunk again later) but costs far more than an insert
  -- into a plain chunk, so the common backlogs — a weekend or a week on a site without coverage —
  -- should land before compression.
  perform add_compression_policy('telemetry', compress_after => interval '7 days');

  -- A report without seq is deduplicated by (device_id, ts) alone (NULLS NOT DISTINCT, 002). In a
  -- compressed chunk TimescaleDB (2.23) checks that for the first row of a multi-row INSERT only:
  -- a redelivered seq-less report later in the batch went in twice. Until it checks every row,
  -- this trigger drops a seq-less report whose (device_id, ts) is already stored — what ON
  -- CONFLICT DO NOTHING, the only way telemetry is written (ingest/store.ts), does anyway. Reports
  -- with a seq never fire it.
  create function telemetry_skip_stored_seqless() returns trigger
  language plpgsql as $f$
  begin
    if exists (select 1 from telemetry t where t.device_id = new.device_id and t.ts = new.ts and t.seq is null) then
      return null;
    end if;
    return new;
  end
  $f$;
  create trigger telemetry_skip_stored_seqless before insert on telemetry
    for each row when (new.seq is null) execute function telemetry_skip_stored_seqless();

  -- Real-time (materialized_only = false): rows not yet materialized, today's above all, are
  -- computed from telemetry at query time, so the api never reads a stale today.
  execute format(
    'create materialized view telemetry_daily
       with (timescaledb.continuous, timescaledb.materialized_only = false) as %s with no data',
    format(daily, $b$time_bucket('1 day', ts, 'Asia/Shanghai')$b$));
  -- Hourly, days up to 30 days back: a refresh recomputes only days whose telemetry changed since
  -- the last one (TimescaleDB keeps an invalidation log), so a wide window costs nothing while no
  -- backlog arrives, and a machine that comes back after three weeks out of coverage — the hidden
  -- machine a collector looks for — has its engine hours counted. Backlogs older than 30 days are
  -- stored and counted after `call refresh_continuous_aggregate('telemetry_daily', <from>, <to>)`.
  -- Retention (below) never drops raw days inside this window (TELEMETRY_RETENTION_DAYS >= 60):
  -- refreshing a day whose raw chunk is gone would empty that day's rows.
  perform add_continuous_aggregate_policy('telemetry_daily',
    start_offset => interval '30 days', end_offset => interval '1 hour', schedule_interval => interval '1 hour');
end
$$;

-- Retention of raw telemetry, set at every start from TELEMETRY_RETENTION_DAYS (main.ts): 0 keeps
-- everything, otherwise day chunks older than keep_days are dropped by TimescaleDB's job scheduler.
-- telemetry_daily keeps its rows for dropped days. Plain PostgreSQL has no scheduler: the call says
-- so and keeps every row. Idempotent, and safe when several processes start together.
create function set_telemetry_retention(keep_days integer) returns text
language plpgsql as $$
declare
  current interval;
begin
  if keep_days is null or keep_days < 0 or (keep_days > 0 and keep_days < 60) then
    raise exception 'telemetry retention must be 0 (keep forever) or at least 60 days, got %', keep_days
      using errcode = 'invalid_parameter_value';
  end if;
  if not telemetry_on_timescaledb() then
    return 'telemetry is a plain table (no TimescaleDB): no retention job, every row is kept';
  end if;
  perform pg_advisory_xact_lock(727002);
  execute $q$select (config->>'drop_after')::interval from timescaledb_information.jobs
             where proc_name = 'policy_retention' and hypertable_schema = current_schema()
               and hypertable_name = 'telemetry'$q$
    into current;
  if keep_days = 0 then
    if current is not null then
      perform remove_retention_policy('telemetry');
    end if;
    return 'telemetry is kept forever (no retention job)';
  end if;
  if current is distinct from make_interval(days => keep_days) then
    if current is not null then
      perform remove_retention_policy('telemetry');
    end if;
    perform add_retention_policy('telemetry', drop_after => make_interval(days => keep_days));
  end if;
  return format('telemetry older than %s days is dropped (retention job)', keep_days);
end
$$;

-- The default until a process starts with its configuration: the same as TELEMETRY_RETENTION_DAYS'
-- default (shared/config.ts).
select set_telemetry_retention(1095);
