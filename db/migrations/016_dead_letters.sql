-- Dead letters, one row per rejected message. A backlog array of 1,000 bad reports used to become
-- 1,000 rows, each with its own copy of the payload; now it is one row whose `reasons` counts the
-- problems by reason ({"schema": 998, "future_time": 2}) and whose `examples` keeps the first few
-- problems in words. `reason` stays the first problem's reason and `detail` its words, so a row
-- reads as before; `payload` holds the payload's first bytes (1 KB), `payload_bytes` its full size.
alter table ingest_rejects
  add column reasons jsonb,
  add column examples jsonb,
  add column payload_bytes integer;

update ingest_rejects
   set reasons = jsonb_build_object(reason, 1),
       examples = case when detail is null then '[]'::jsonb else jsonb_build_array(detail) end,
       payload_bytes = coalesce(octet_length(payload), 0);

alter table ingest_rejects
  alter column reasons set not null,
  alter column examples set not null,
  alter column payload_bytes set not null;

-- GET /api/ingest/rejects filters by device, newest first; retention deletes by received_at
-- (ingest_rejects_received, 002).
create index ingest_rejects_device on ingest_rejects (device_id, id);
