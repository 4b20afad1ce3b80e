/**
 * Seeded randomness for the simulators. Every stream is keyed by (seed, labels…) rather than drawn
 * from one shared generator, so machine 17 is the same machine whether the fleet has 20 or 2000
 * devices, and day 5 of its life does not depend on how many reports day 4 produced.
 */
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

export interface Rng {
  /** Uniform in [0, 1). */
  float(): number;
  /** Uniform integer in [min, max], both included. */
  int(min: number, max: number): number;
  /** Uniform real in [min, max). */
  range(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Standard normal (Box–Muller), for GPS jitter and sensor noise. */
  normal(): number;
  /** `length` lowercase hex digits. */
  hex(length: number): string;
}

/** 32-bit FNV-1a over the labels, then a murmur finaliser so neighbouring labels diverge. */
export function hashSeed(...parts: ReadonlyArray<string | number>): number {
  let h = 0x811c9dc5;
  const text = parts.join('\u001f');
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

export function createRng(...parts: ReadonlyArray<string | number>): Rng {
  const gen = xoroshiro128plus(hashSeed(...parts));
  const float = () => uniformFloat64(gen);
  return {
    float,
    int: (min, max) => uniformInt(gen, min, max),
    range: (min, max) => min + float() * (max - min),
    chance: (p) => float() < p,
    pick: (items) => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[uniformInt(gen, 0, items.length - 1)] as (typeof items)[number];
    },
    normal: () => {
      const u = 1 - float();
      const v = float();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    hex: (length) => {
      let out = '';
      while (out.length < length) out += (uniformInt(gen, 0, 0xffff) | 0x10000).toString(16).slice(1);
      return out.slice(0, length);
    },
  };
}
