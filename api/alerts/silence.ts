/**
 * The silence check: a box not heard from for longer than its account's stage allows (shared/alerts
 * silentAfterHours) gets a `silent` alert. Silence has no report to evaluate, so it runs on a clock,
 * every few minutes and at start (a process that was down catches up). Several api nodes may run it:
 * the partial unique index keeps one open alert per device, and ingest clears it on the next report.
 */
import type { Logger } from 'pino';
import { alertsById } from '../../db/alerts.ts';
import type { Database } from '../../db/client.ts';
import { type AlertRules, type AlertView, DEFAULT_ALERT_RULES } from '../../shared/alerts.ts';

/** One pass: opens a silent alert for every device quiet for too long; returns the new alerts. */
export async function raiseSilentAlerts(
  db: Database,
  now: number,
  rules: AlertRules = DEFAULT_ALERT_RULES,
): Promise<AlertView[]> {
  const [s0, s1, s2, s3, none] = rules.silentHoursByStage;
  const { rows } = await db.query<{ id: string }>(
    `with quiet as (
       select distinct on (s.device_id) s.device_id, i.machine_id, c.id as contract_id, s.last_received_at,
              s.last_ts, s.lat, s.lon,
              case coalesce(c.stage, -1) when 0 then $2::int when 1 then $3::int when 2 then $4::int when 3 then $5::int else $6::int end
                as hours
       from device_rule_state s
       left join installation i on i.device_id = s.device_id and i.removed_at is null
       left join contract c on c.machine_id = i.machine_id and c.status = 'active'
       order by s.device_id, c.created_at desc
     )
     insert into alert (kind, device_id, machine_id, contract_id, raised_at, last_seen_at, lat, lon, detail)
     select 'silent', q.device_id, q.machine_id, q.contract_id, $1::timestamptz, $1::timestamptz, q.lat, q.lon,
            jsonb_build_object('lastReportAt', q.last_ts, 'lastHeardAt', q.last_received_at,
                               'silentAfterHours', q.hours)
     from quiet q
     where q.last_received_at < $1::timestamptz - make_interval(hours => q.hours)
     on conflict (kind, device_id) where status = 'open' do nothing
     returning id::text`,
    [new Date(now).toISOString(), s0, s1, s2, s3, none],
  );
  return alertsById(
    db,
    rows.map((r) => r.id),
  );
}

export interface SilenceCheckOptions {
  db: Database;
  logger: Logger;
  now?: () => number;
  everyMs?: number;
  onAlerts?: (alerts: AlertView[]) => void;
}

export function startSilenceCheck(o: SilenceCheckOptions): { stop(): Promise<void> } {
  const now = o.now ?? Date.now;
  let running: Promise<void> | null = null;
  const tick = () => {
    if (running) return;
    running = raiseSilentAlerts(o.db, now())
      .then((alerts) => {
        if (alerts.length > 0) {
          o.logger.info({ silent: alerts.length }, 'devices silent for too long');
          o.onAlerts?.(alerts);
        }
      })
      .catch((e) => o.logger.error({ err: e }, 'silence check failed; retrying at the next tick'))
      .finally(() => {
        running = null;
      });
  };
  tick();
  const timer = setInterval(tick, o.everyMs ?? 5 * 60_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
