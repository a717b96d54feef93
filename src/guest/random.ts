import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/**
 * The simulation's only source of randomness: a seeded xoroshiro128+ (pure-rand), so the same
 * seed replays the same run (I7).
 */
export class Random {
  private readonly rng: RandomGenerator;

  constructor(readonly seed: number) {
    this.rng = xoroshiro128plus(seed | 0);
  }

  /** An integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.rng, from, to);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.int(0, 0xffffff) < p * 0x1000000;
  }

  /** A new generator whose stream depends only on this one's seed and `label`. */
  fork(label: number): Random {
    return new Random((Math.imul(this.seed, 0x9e3779b1) ^ Math.imul(label + 1, 0x85ebca6b)) | 0);
  }
}
