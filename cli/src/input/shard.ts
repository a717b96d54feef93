/**
 * `--shard i/n`: one of n parts of a grid, so that a sweep can run on several machines. A
 * part is a run of consecutive scenarios, so the parts put back in order are the grid.
 */
import { UsageError } from '../usage-error.js';

/** Part `index` (1 … count) of `count`, out of a grid of `scenarios` scenarios. */
export interface Shard {
  readonly index: number;
  readonly count: number;
  readonly scenarios: number;
}

/** `i/n` with 1 ≤ i ≤ n ≤ the grid's scenarios (no part may be empty). */
export function parseShard(text: string, scenarios: number): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || !Number.isSafeInteger(index) || !Number.isSafeInteger(count) || index < 1 || index > count) {
    throw new UsageError(`--shard '${text}': expected i/n with 1 ≤ i ≤ n, like 2/4`);
  }
  if (count > scenarios) throw new UsageError(`--shard '${text}': the grid has ${scenarios} scenario(s), so at most ${scenarios} parts`);
  return { index, count, scenarios };
}

/** The scenarios of part `shard`: consecutive, and as many as the other parts' give or take one. */
export function shardOf<T>(items: readonly T[], shard: Shard): T[] {
  const start = Math.floor(((shard.index - 1) * items.length) / shard.count);
  const end = Math.floor((shard.index * items.length) / shard.count);
  return items.slice(start, end);
}
