/**
 * A machine's life as a chain of legs: stretches of time in which it is either standing at one
 * point or travelling a path at constant speed, with the ignition on or off. The reports are
 * sampled from this chain, so position, speed and engine hours can never disagree with each other.
 */
import { along, type LatLon, type Path, pathThrough, scatter, slicePath } from './geo.ts';
import type { Rng } from './rng.ts';

export type Activity =
  | 'parked' // at the yard or camp, ignition off
  | 'warmup' // engine running at the yard: maintenance, warming up
  | 'commute' // driving between yard and job site
  | 'work' // digging, lifting, pumping, rolling: ignition on, small moves inside the site
  | 'break' // lunch or rain pause at the site, ignition off
  | 'ramp' // driving onto or off a trailer
  | 'strap' // chained down on the trailer, not yet rolling
  | 'trailer' // on a lowboy trailer: moving with the ignition OFF
  | 'rest'; // the truck driver's rest stop, machine still on the trailer

export interface Leg {
  from: number;
  /** Exclusive; Infinity for a machine that never moves again. */
  to: number;
  ign: boolean;
  activity: Activity;
  /** Where the leg starts; where it stays if `path` is null. */
  at: LatLon;
  /** Travelled at constant speed over [from, to). */
  path: Path | null;
}

export interface LegState {
  pos: LatLon;
  /** km/h; 0 when standing. */
  speedKmh: number;
  heading: number | null;
  ign: boolean;
  moving: boolean;
}

const SECOND = 1000;

export function legState(leg: Leg, t: number): LegState {
  if (!leg.path) return { pos: leg.at, speedKmh: 0, heading: null, ign: leg.ign, moving: false };
  const f = (t - leg.from) / (leg.to - leg.from);
  const { pos, heading } = along(leg.path, f * leg.path.lengthM);
  const speedKmh = (leg.path.lengthM / ((leg.to - leg.from) / SECOND)) * 3.6;
  return { pos, speedKmh, heading, ign: leg.ign, moving: true };
}

/**
 * Appends legs from a cursor. Times are whole seconds because real boxes stamp reports to the
 * second; it also keeps an event report and a timed report from landing a millisecond apart.
 */
export class LegBuilder {
  readonly legs: Leg[] = [];
  constructor(
    public t: number,
    public pos: LatLon,
  ) {
    this.t = Math.ceil(t / SECOND) * SECOND;
  }

  /** Stand still (ignition as given) until `until`; nothing if that is already past. */
  stay(until: number, ign: boolean, activity: Activity): this {
    const end = until === Number.POSITIVE_INFINITY ? until : Math.round(until / SECOND) * SECOND;
    if (end > this.t) {
      this.legs.push({ from: this.t, to: end, ign, activity, at: this.pos, path: null });
      this.t = end;
    }
    return this;
  }

  stayFor(ms: number, ign: boolean, activity: Activity): this {
    return this.stay(this.t + ms, ign, activity);
  }

  travel(path: Path, kmh: number, ign: boolean, activity: Activity): this {
    if (path.lengthM < 1) return this;
    const ms = Math.max(1, Math.round(path.lengthM / (kmh / 3.6))) * SECOND;
    this.legs.push({ from: this.t, to: this.t + ms, ign, activity, at: this.pos, path });
    this.t += ms;
    this.pos = path.points[path.points.length - 1]!;
    return this;
  }

  /** A short straight move, e.g. across a site or from the camp to the site gate. */
  moveTo(target: LatLon, kmh: number, ign: boolean, activity: Activity): this {
    return this.travel(pathThrough([this.pos, target]), kmh, ign, activity);
  }

  /**
   * Working inside a site until about `until`: spells of digging on the spot (engine on, speed 0)
   * between short moves to another corner of the site. May overrun by the length of one move.
   */
  workUntil(rng: Rng, center: LatLon, radiusM: number, kmh: readonly [number, number], until: number): this {
    while (this.t < until) {
      this.stay(Math.min(until, this.t + rng.range(4, 25) * 60 * SECOND), true, 'work');
      if (this.t >= until) break;
      this.moveTo(scatter(rng, center, 0, radiusM), rng.range(kmh[0], kmh[1]), true, 'work');
    }
    return this;
  }

  /**
   * On a lowboy trailer with the ignition OFF: the truck changes speed every 8-30 km and the
   * driver rests for a while after about 150 km.
   */
  rideTrailer(rng: Rng, path: Path, kmh: readonly [number, number] = [40, 70]): this {
    let done = 0;
    let sinceRest = 0;
    while (done < path.lengthM) {
      const piece = Math.min(path.lengthM - done, rng.range(8000, 30000));
      this.travel(slicePath(path, done, done + piece), rng.range(kmh[0], kmh[1]), false, 'trailer');
      done += piece;
      sinceRest += piece;
      if (sinceRest > 150_000 && done < path.lengthM) {
        this.stayFor(rng.range(15, 30) * 60 * SECOND, false, 'rest');
        sinceRest = 0;
      }
    }
    return this;
  }
}
