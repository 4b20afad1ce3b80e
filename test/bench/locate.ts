/**
 * Location benchmark: how often the top "place to look" finds the machine, against the simulator's
 * ground truth, beside the naive baseline (the last known position), and how soon the run-away
 * story machine raises its alerts.
 *   npm run bench:locate -- --devices 40 --days 32 --nights 7 --seed 42
 * A fleet is simulated for `days` on a simulated clock and written through ingest's own batch
 * transaction (writeBatch + the location rules, as ingest/worker.ts runs them) in 30-minute windows of
 * publish time (2,000-3,000 reports a batch for 40 machines, like a busy ingest); then, at local midnight of each of the last `nights` nights, each machine's sites
 * and best place are computed from the trail as known at that moment (the analysis of
 * GET /api/machines/{id}/sites, on the same query less the per-night round trips) and scored: hit = within 300 m of where the ground truth has it.
 * Database: DATABASE_URL (a scratch database, dropped at the end), else PGlite in memory.
 * The last line of output is one JSON object.
 */
import { parseArgs } from 'node:util';
import type { Database } from '../../db/client.ts';
import { createLocationRules } from '../../ingest/rules/evaluate.ts';
import { rejectUnknownDevices, type TelemetryRow, writeBatch } from '../../ingest/store.ts';
import { distanceM, type LatLon } from '../../shared/geo.ts';
import { analyseTrail, type TrailFix } from '../../shared/geo-sites.ts';
import { createFleet, defaultStoryDeparture, type SimMachine } from '../../simulators/fleet.ts';
import { CST_OFFSET_MS, DAY_MS } from '../../simulators/life.ts';
import { openBenchDatabase } from './engines.ts';

const USAGE = `Usage: npm run bench:locate -- [--devices N] [--days D] [--nights K] [--seed S]
  --devices N  machines (default 40; every fourth account, and the story machine's, at stage 3)
  --days D     simulated days (default 32, at least 30)
  --nights K   local midnights scored, the last K of the run (default 7)
  --seed S     fleet seed (default 42)
  --dark-rate R  per machine-day chance of a main power cut, and of an antenna cut, on a box
               (default 0.03 each, 3x and 6x the simulator's defaults: boxes that go dark)`;

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '40' },
    days: { type: 'string', default: '32' },
    nights: { type: 'string', default: '7' },
    seed: { type: 'string', default: '42' },
    'dark-rate': { type: 'string', default: '0.03' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const devices = Number(values.devices);
const days = Number(values.days);
const nights = Number(values.nights);
const seed = Number(values.seed);
const darkRate = Number(values['dark-rate']);
if (
  ![devices, days, nights, seed].every(Number.isInteger) ||
  devices < 1 ||
  days < 30 ||
  nights < 1 ||
  nights >= days
) {
  console.error(`bad option\n${USAGE}`);
  process.exit(2);
}

const HIT_M = 300;
const WINDOW_MS = 30 * 60_000;
// Local midnight, China time, at the start of the fleet's first day (a fixed date: same seed, same run).
const start = Date.UTC(2026, 9, 1) - CST_OFFSET_MS;
const end = start + days * DAY_MS;
const stageOf = (index: number) =>
  index === 0 || index % 4 === 0 ? 3 : index % 4 === 1 ? 0 : index % 4 === 2 ? 1 : 2;

const bench = await openBenchDatabase();
const { db } = bench;
try {
  // The story machine is loaded on its trailer on the third night before the end: the last nights
  // score it hidden at a place only the ground truth knows.
  const departAt = defaultStoryDeparture(end - 3 * DAY_MS);
  const fleet = createFleet({
    devices,
    seed,
    start,
    story: { departAt },
    faults: { powerCut: darkRate, antennaCut: darkRate },
  });
  await provision(db, fleet);

  const t0 = performance.now();
  const { reports, batches } = await feed(db, fleet);
  const feedSeconds = (performance.now() - t0) / 1000;

  const samples: { stage: number; hit: boolean; baselineHit: boolean; dark: boolean }[] = [];
  const misses: string[] = [];
  const t1 = performance.now();
  for (const m of fleet) {
    // The whole trail once, with when each fix was received; each night sees what was known then.
    const all = await knownTrail(db, m.identity.machineId);
    for (let k = nights; k >= 1; k--) {
      const at = end - (k - 1) * DAY_MS; // local midnight
      const truth = truthAt(m, at);
      if (!truth) continue;
      const trail = all.filter((f) => f.ts <= at && f.ts > at - 30 * DAY_MS && f.receivedAt <= at);
      const answer = analyseTrail(trail, at);
      const last = trail[trail.length - 1];
      const hit = answer.bestNow !== null && distanceM(answer.bestNow, truth) <= HIT_M;
      if (!hit) {
        misses.push(
          `${m.identity.deviceId} ${new Date(at + CST_OFFSET_MS).toISOString().slice(0, 10)} 00:00: ${answer.bestNow?.reason ?? 'no fix'}, ${answer.bestNow ? Math.round(distanceM(answer.bestNow, truth)) : '-'} m off${last && distanceM(last, truth) <= HIT_M ? ' (baseline hit)' : ''}`,
        );
      }
      samples.push({
        stage: stageOf(m.identity.index),
        hit,
        baselineHit: last !== undefined && distanceM(last, truth) <= HIT_M,
        dark: answer.dark,
      });
    }
  }
  const scoreSeconds = (performance.now() - t1) / 1000;

  const rate = (list: typeof samples, key: 'hit' | 'baselineHit') =>
    list.length === 0 ? null : Math.round((list.filter((s) => s[key]).length / list.length) * 1000) / 1000;
  const stage3 = samples.filter((s) => s.stage === 3);
  const dark = samples.filter((s) => s.dark);
  const lead = await runAwayLeads(db, fleet[0]!);

  const row = (label: string, list: typeof samples) =>
    `${label.padEnd(26)} ${String(list.length).padStart(6)} ${String(rate(list, 'hit')).padStart(8)} ${String(rate(list, 'baselineHit')).padStart(10)}`;
  console.log(
    `fleet: ${devices} machines, ${days} simulated days, seed ${seed}, dark-rate ${darkRate}, ${bench.name}`,
  );
  console.log(
    `fed ${reports} reports in ${batches} ingest transactions in ${feedSeconds.toFixed(1)} s; scored in ${scoreSeconds.toFixed(1)} s`,
  );
  console.log(
    `${'nights scored'.padEnd(26)} ${'n'.padStart(6)} ${'hit'.padStart(8)} ${'baseline'.padStart(10)}`,
  );
  console.log(row('all machines', samples));
  console.log(row('stage-3 machines', stage3));
  console.log(row('box dark at that moment', dark));
  for (const miss of misses) console.log(`  miss: ${miss}`);
  console.log(
    `run-away story: trailer left ${new Date(lead.departedAt).toISOString()}; moving_ignition_off after ${lead.movingIgnitionOff ?? 'never'} min, far_from_sites after ${lead.farFromSites ?? 'never'} min`,
  );
  console.log(
    JSON.stringify({
      machines: devices,
      days,
      darkRate,
      nights,
      samples: samples.length,
      hitRate: rate(samples, 'hit'),
      baselineHitRate: rate(samples, 'baselineHit'),
      stage3HitRate: rate(stage3, 'hit'),
      stage3BaselineHitRate: rate(stage3, 'baselineHit'),
      darkSamples: dark.length,
      darkHitRate: rate(dark, 'hit'),
      darkBaselineHitRate: rate(dark, 'baselineHit'),
      runAwayAlertLeadMinutes: lead.movingIgnitionOff,
      farFromSitesLeadMinutes: lead.farFromSites,
      reports,
      feedSeconds: Math.round(feedSeconds * 10) / 10,
      engine: db.engine,
    }),
  );
} finally {
  await bench.close();
}

/** Devices, machines, installations from the start, one contract each; a stage-3 account's yard and
 * job sites are known to the lender as geofences (what far_from_sites measures against). */
async function provision(db: Database, fleet: SimMachine[]): Promise<void> {
  const since = new Date(start - DAY_MS).toISOString();
  for (const m of fleet) {
    const id = m.identity;
    const stage = stageOf(id.index);
    await db.query(`insert into device (id, token_hash) values ($1, null)`, [id.deviceId]);
    await db.query(
      'insert into machine (id, make, model, type, serial, year) values ($1, $2, $3, $4, $5, $6)',
      [id.machineId, id.make, id.model, id.type, id.pin, id.year],
    );
    await db.query('insert into installation (device_id, machine_id, installed_at) values ($1, $2, $3)', [
      id.deviceId,
      id.machineId,
      since,
    ]);
    await db.query(`insert into customer (id, name) values ($1, 'bench customer')`, [`CUS-${id.machineId}`]);
    await db.query(
      `insert into contract (id, number, kind, customer_id, machine_id, principal, start_date, term_months, stage)
       values ($1, $1, 'loan', $2, $3, 100000000, '2025-01-01', 36, $4)`,
      [`CON-${id.machineId}`, `CUS-${id.machineId}`, id.machineId, stage],
    );
    if (stage < 3) continue;
    const known = [
      { name: 'yard', purpose: 'yard', at: m.home.yard },
      ...m.home.sites.map((s) => ({ name: s.name, purpose: 'job_site', at: s.center })),
    ];
    for (const k of known) {
      await db.query(
        `insert into geofence (name, purpose, contract_id, geometry, center_lat, center_lon, radius_m, min_lat, min_lon, max_lat, max_lon)
         values ($1, $2, $3, $4::jsonb, $5::float8, $6::float8, 300, $5::float8 - 0.003, $6::float8 - 0.004,
                 $5::float8 + 0.003, $6::float8 + 0.004)`,
        [
          k.name,
          k.purpose,
          `CON-${id.machineId}`,
          JSON.stringify(square(k.at.lat, k.at.lon)),
          k.at.lat,
          k.at.lon,
        ],
      );
    }
  }
}

function square(lat: number, lon: number) {
  return {
    type: 'Polygon',
    coordinates: [
      [
        [lon - 0.004, lat - 0.003],
        [lon + 0.004, lat - 0.003],
        [lon + 0.004, lat + 0.003],
        [lon - 0.004, lat + 0.003],
        [lon - 0.004, lat - 0.003],
      ],
    ],
  };
}

/** Every box's messages in publish order, a window of publish time per ingest transaction. */
async function feed(db: Database, fleet: SimMachine[]): Promise<{ reports: number; batches: number }> {
  const rules = createLocationRules();
  let reports = 0;
  let batches = 0;
  for (let from = start; from < end + 60_000; from += WINDOW_MS) {
    const to = Math.min(from + WINDOW_MS, end + 60_000);
    const telemetry: TelemetryRow[] = [];
    for (const m of fleet) {
      for (const e of m.advance(to)) {
        if (e.kind !== 'telemetry') continue;
        for (const report of Array.isArray(e.payload) ? e.payload : [e.payload]) {
          telemetry.push({ deviceId: m.identity.deviceId, receivedAt: e.at, report });
        }
      }
    }
    if (telemetry.length === 0) continue;
    telemetry.sort((a, b) => a.receivedAt - b.receivedAt);
    await db.transaction(async (tx) => {
      const known = await rejectUnknownDevices(tx, { telemetry, rejects: [], statuses: [], messages: [] });
      await writeBatch(tx, known);
      await rules.evaluate(tx, known.telemetry);
    });
    reports += telemetry.length;
    batches++;
    if (batches % 200 === 0) {
      process.stderr.write(
        `  ${new Date(to + CST_OFFSET_MS).toISOString().slice(0, 16)} China time, ${reports} reports\n`,
      );
    }
  }
  return { reports, batches };
}

/** Where the ground truth has the machine at local midnight `at`: the day's dawn position, or, for
 * the story machine after its box went dark (no more days are lived), where the story has it then;
 * null (not scored) while it is on the road. */
function truthAt(m: SimMachine, at: number): LatLon | null {
  const truth = m.truth();
  const date = new Date(at + CST_OFFSET_MS).toISOString().slice(0, 10);
  const day = truth.days.find((d) => d.date === date);
  if (day) return day.dawnAt;
  const placed = truth.events
    // Only a place the story says it is at then (unloaded at the hideout); on the road it is unknown.
    .filter((e) => e.at !== undefined && e.from <= at && (e.to === null || e.to >= at))
    .sort((a, b) => b.from - a.from)[0];
  return placed?.at ?? null;
}

/** The machine's usable fixes with the time each was received (ingest's received_at). */
async function knownTrail(db: Database, machineId: string): Promise<(TrailFix & { receivedAt: number })[]> {
  const { rows } = await db.query<{
    ts: Date;
    received_at: Date;
    lat: number;
    lon: number;
    spd: number | null;
    ign: boolean | null;
  }>(
    `select t.ts, t.received_at, t.lat, t.lon, t.spd, t.ign
     from installation i join telemetry t on t.device_id = i.device_id and t.ts >= i.installed_at
     where i.machine_id = $1 and t.fix is distinct from false and not (t.lat = 0 and t.lon = 0)
     order by t.ts, t.seq`,
    [machineId],
  );
  return rows.map((r) => ({
    ts: new Date(r.ts).getTime(),
    receivedAt: new Date(r.received_at).getTime(),
    lat: r.lat,
    lon: r.lon,
    spd: r.spd,
    ign: r.ign,
  }));
}

async function runAwayLeads(db: Database, story: SimMachine) {
  const departed = story
    .truth()
    .events.find((e) => e.kind === 'story' && e.note.startsWith('on the trailer'));
  const departedAt = departed?.from ?? Number.NaN;
  const { rows } = await db.query<{ kind: string; raised_at: Date }>(
    `select kind, min(raised_at) as raised_at from alert
     where device_id = $1 and raised_at >= $2 and kind in ('moving_ignition_off', 'far_from_sites') group by kind`,
    [story.identity.deviceId, new Date(departedAt).toISOString()],
  );
  const minutes = (kind: string) => {
    const r = rows.find((x) => x.kind === kind);
    return r ? Math.round((new Date(r.raised_at).getTime() - departedAt) / 6000) / 10 : null;
  };
  return {
    departedAt,
    movingIgnitionOff: minutes('moving_ignition_off'),
    farFromSites: minutes('far_from_sites'),
  };
}
