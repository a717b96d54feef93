/**
 * Migration strategies, combinable by name:
 * - `none`: every page sent whole (no zero detection);
 * - `zero`: zero pages go as header-only records (QEMU's default);
 * - `zero-skip`: also skip zero pages in the first round, only when the destination is fresh;
 * - `hint`: free page hinting between bitmap syncs, DONE at the end (QEMU's precopy notifier);
 * - `report`: the guest runs free page reporting, so reported pages read as zero (pair with `zero`).
 */
export type Strategy = 'none' | 'zero' | 'zero-skip' | 'hint' | 'report';
/** Every strategy name, in the order they combine. */
export const STRATEGIES: readonly Strategy[] = ['none', 'zero', 'zero-skip', 'hint', 'report'];

/** A checked set of strategies. */
export interface StrategySet {
  readonly names: readonly Strategy[];
  /** Zero pages are recognised and sent as header-only records. */
  readonly detectZero: boolean;
  readonly skipZeroInFirstRound: boolean;
  readonly hint: boolean;
  readonly report: boolean;
}

/** A strategy set that cannot run: an unknown name, a contradiction, or a guest that lacks what it needs. */
export class StrategyError extends Error {
  override readonly name = 'StrategyError';
}

/** Parse and check a combination such as `zero+hint`. */
export function strategySet(names: readonly string[] | string, options: { postcopy?: boolean } = {}): StrategySet {
  const list = (typeof names === 'string' ? names.split('+') : names).map((n) => n.trim()).filter((n) => n.length > 0);
  for (const n of list) {
    if (!STRATEGIES.includes(n as Strategy)) throw new StrategyError(`unknown strategy '${n}': expected ${STRATEGIES.join(', ')} (combine with +)`);
  }
  const has = (s: Strategy): boolean => list.includes(s);
  if (list.length === 0) throw new StrategyError('no strategy given');
  if (has('none') && list.length > 1) throw new StrategyError(`'none' sends every page whole and cannot be combined with ${list.filter((n) => n !== 'none').join(', ')}`);
  // Hinted pages are never sent, so a postcopy fault on one would stall (QEMU refuses too).
  if (has('hint') && options.postcopy)
    throw new StrategyError("'hint' cannot be combined with postcopy under the 'refuse' policy (QEMU's): hinted pages are never sent, so a fault on one would stall; use the 'local-zero' hint policy");
  return {
    names: list as Strategy[],
    detectZero: has('zero') || has('zero-skip'),
    skipZeroInFirstRound: has('zero-skip'),
    hint: has('hint'),
    report: has('report'),
  };
}
