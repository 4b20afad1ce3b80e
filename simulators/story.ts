/**
 * The scripted story the demo is built around. An excavator financed in Xuzhou (Jiangsu), its
 * account three instalments overdue (stage 3, see demo-contracts.ts), is loaded on a lowboy at
 * night and driven west on the G30: ignition off but moving. It leaves Jiangsu for Anhui about
 * 20 km out; some 25 km further someone cuts the box's main power. The box sends powerCut alarms
 * on its backup battery for a few minutes and then goes dark for good. The machine ends up in a
 * farm yard east of Zhengzhou (Henan), which only the ground truth knows.
 */
import type { Fault } from './faults.ts';
import { type LatLon, roadPath } from './geo.ts';
import type { LegBuilder } from './legs.ts';
import { STORY_ROUTE } from './places.ts';
import type { Rng } from './rng.ts';
import type { TruthEvent } from './truth.ts';

/** Index of the story machine in every fleet: the first one, so even a 1-device fleet has it. */
export const STORY_INDEX = 0;
export const STORY_CITY = 'Xuzhou';

const MIN = 60_000;

export interface StoryPlan {
  faults: Fault[];
  events: TruthEvent[];
}

/** Plans the story night into `b`, which stands at the machine's yard. */
export function planStory(b: LegBuilder, rng: Rng, departAt: number): StoryPlan {
  const yard = b.pos;
  b.stay(departAt - 16 * MIN, false, 'parked');
  const loadingFrom = b.t;
  b.stayFor(6 * MIN, true, 'ramp').stayFor(10 * MIN, false, 'strap');
  const waypoints: LatLon[] = [yard, ...STORY_ROUTE.slice(1)];
  const route = roadPath(rng, waypoints, 4000);
  const firstTrailerLeg = b.legs.length;
  b.rideTrailer(rng, route, [50, 65]);
  const arrived = b.t;
  b.stayFor(8 * MIN, false, 'strap').stayFor(5 * MIN, true, 'ramp');

  const anhui = STORY_ROUTE.findIndex((w) => w.province === 'Anhui');
  const anhuiAtM = route.cumulative[route.points.indexOf(waypoints[anhui]!)]!;
  const cutAtM = anhuiAtM + 25_000;
  const timeAt = (meters: number): number => {
    let done = 0;
    for (const leg of b.legs.slice(firstTrailerLeg)) {
      if (!leg.path) continue;
      if (done + leg.path.lengthM >= meters) {
        const f = (meters - done) / leg.path.lengthM;
        return Math.round((leg.from + f * (leg.to - leg.from)) / 1000) * 1000;
      }
      done += leg.path.lengthM;
    }
    return arrived;
  };
  const cutAt = timeAt(cutAtM);
  const darkAt = cutAt + Math.round(rng.range(3, 6) * 60) * 1000;
  const hideout = STORY_ROUTE[STORY_ROUTE.length - 1]!;

  return {
    faults: [{ kind: 'powerCut', from: cutAt, darkAt, to: Number.POSITIVE_INFINITY }],
    events: [
      {
        kind: 'story',
        from: loadingFrom,
        to: loadingFrom + 16 * MIN,
        note: 'loaded on a lowboy trailer at night at the yard (stage-3 account)',
        at: yard,
      },
      {
        kind: 'story',
        from: loadingFrom + 16 * MIN,
        to: arrived,
        note: `on the trailer westbound on the G30, ignition off, ${Math.round(route.lengthM / 1000)} km to the hideout`,
      },
      {
        kind: 'story',
        from: timeAt(anhuiAtM),
        to: null,
        note: 'left Jiangsu: entered Anhui near Xiao County',
      },
      { kind: 'story', from: cutAt, to: null, note: 'main power cut: powerCut alarm, box on backup battery' },
      { kind: 'story', from: darkAt, to: null, note: 'box went dark for good (never reports again)' },
      {
        kind: 'story',
        from: arrived,
        to: null,
        note: `unloaded at the hideout: ${hideout.label}`,
        at: hideout,
      },
    ],
  };
}
