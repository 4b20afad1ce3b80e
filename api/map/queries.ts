/** Reads the fleet for the map: each device's newest fix joined to its machine's active contract. */
import type { Sql } from '../../db/client.ts';
import type { BBox, MachineCollection, MachineFeature, Stage } from '../../shared/map.ts';
import { contractInScope, seesAll, type Viewer } from '../auth/scope.ts';

export interface MachineQuery {
  minStage?: Stage | undefined;
  bbox?: BBox | undefined;
  deviceIds?: string[] | undefined;
  /** Only machines whose current contract is with this dealer (`dealer.id`). */
  dealerId?: string | undefined;
  /** Only machines whose dealer is in this province (`dealer.province`, exact). */
  province?: string | undefined;
}

interface Row {
  device_id: string;
  ts: Date;
  lat: number;
  lon: number;
  ign: boolean | null;
  spd: number | null;
  hrs: number | null;
  rly: boolean | null;
  machine_id: string | null;
  contract_id: string | null;
  contract_number: string | null;
  customer: string | null;
  dealer_id: string | null;
  dealer: string | null;
  province: string | null;
  stage: number | null;
}

/**
 * The viewer sees a machine when its current contract is in their scope; a machine without a
 * contract (a box in stock, on a test bench) only with the scope all.
 */
export async function findMachines(
  db: Sql,
  viewer: Viewer,
  q: MachineQuery = {},
): Promise<MachineCollection> {
  const [w, s, e, n] = q.bbox ?? [null, null, null, null];
  const params: unknown[] = [
    q.minStage ?? null,
    w,
    s,
    e,
    n,
    q.deviceIds ?? null,
    q.dealerId ?? null,
    q.province ?? null,
  ];
  const inScope = seesAll(viewer) ? 'true' : `c.id is not null and ${contractInScope(viewer, 'c', params)}`;
  const { rows } = await db.query<Row>(
    `select lp.device_id, lp.ts, lp.lat, lp.lon, lp.ign, lp.spd, lp.hrs, lp.rly,
            i.machine_id, c.id as contract_id, c.number as contract_number, cu.name as customer,
            d.id as dealer_id, d.name as dealer, d.province, c.stage
     from latest_position lp
     left join installation i on i.device_id = lp.device_id and i.removed_at is null
     -- The machine's current contract: the active one, else the most recent (settled, closed).
     left join lateral (
       select id, number, stage, customer_id, dealer_id, machine_id from contract
       where machine_id = i.machine_id
       order by (status = 'active') desc, start_date desc
       limit 1
     ) c on true
     left join customer cu on cu.id = c.customer_id
     left join dealer d on d.id = c.dealer_id
     where ($1::int is null or $1::int = 0 or c.stage >= $1::int)
       and ($2::float8 is null or lp.lat between $3::float8 and $5::float8)
       and ($2::float8 is null or case when $2::float8 <= $4::float8
                                  then lp.lon between $2::float8 and $4::float8
                                  else lp.lon >= $2::float8 or lp.lon <= $4::float8 end)
       and ($6::text[] is null or lp.device_id = any($6::text[]))
       and ($7::text is null or d.id = $7::text)
       and ($8::text is null or d.province = $8::text)
       and ${inScope}
     order by lp.device_id`,
    params,
  );
  return { type: 'FeatureCollection', features: rows.map(toFeature) };
}

function toFeature(r: Row): MachineFeature {
  return {
    type: 'Feature',
    id: r.device_id,
    geometry: { type: 'Point', coordinates: [r.lon, r.lat] },
    properties: {
      deviceId: r.device_id,
      machineId: r.machine_id,
      contractId: r.contract_id,
      contractNumber: r.contract_number,
      customer: r.customer,
      dealerId: r.dealer_id,
      dealer: r.dealer,
      province: r.province,
      stage: r.stage === null ? null : (r.stage as Stage),
      lastSeen: new Date(r.ts).toISOString(),
      ign: r.ign,
      spd: r.spd,
      hrs: r.hrs,
      rly: r.rly,
    },
  };
}
