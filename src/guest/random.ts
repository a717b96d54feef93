/** The simulation's seeded random numbers. */
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
}
