/** The performance goal a figure is held to (P1 … P6, see bench/README.md) and whether it is met. */
export interface Goal {
  readonly id: string;
  /** The bound, as printed: e.g. '≤ 1.3×'. */
  readonly bound: string;
  readonly met: boolean;
}

/** A figure a benchmark prints: a name, a value, its unit, an optional remark and the goal it answers. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
  readonly goal?: Goal;
}

/** The goal `id`, met when `value` is at most `bound`. */
export function atMost(id: string, value: number, bound: number, unit: string): Goal {
  return { id, bound: `≤ ${bound}${unit}`, met: value <= bound };
}

/** The goal `id`, met when `value` is under `bound`. */
export function below(id: string, value: number, bound: number, unit: string): Goal {
  return { id, bound: `< ${bound}${unit}`, met: value < bound };
}

/** The goal `id`, met when `value` is at least `bound`. */
export function atLeast(id: string, value: number, bound: number, unit: string): Goal {
  return { id, bound: `≥ ${formatValue(bound)}${unit}`, met: value >= bound };
}

/** Options every benchmark receives. */
export interface BenchOptions {
  /** Short runs (for smoke checks), not for figures you quote. */
  readonly quick: boolean;
}

export interface Benchmark {
  readonly name: string;
  readonly figures: (options: BenchOptions) => Figure[] | Promise<Figure[]>;
}

/** Calls of `op` between two reads of the clock, whose cost would otherwise be part of the figure. */
const CALLS_PER_CLOCK_READ = 32;

/** Timed windows per figure; their median is the figure (one slow window, e.g. a GC, does not set it). */
const WINDOWS = 5;

/**
 * Operations per second of `op`, which does `batch` operations per call: a warm-up, then calls
 * for `ms` in all, the median of {@link WINDOWS} windows. Wall-clock time, on a shared machine:
 * compare figures from one run.
 */
export function opsPerSecond(op: () => void, batch: number, ms: number): number {
  const run = (windowMs: number): number => {
    let calls = 0;
    const start = performance.now();
    let now = start;
    while (now - start < windowMs) {
      for (let i = 0; i < CALLS_PER_CLOCK_READ; i++) op();
      calls += CALLS_PER_CLOCK_READ;
      now = performance.now();
    }
    return (calls * batch * 1000) / (now - start);
  };
  run(ms / 5);
  const rates = Array.from({ length: WINDOWS }, () => run(ms / WINDOWS)).sort((a, b) => a - b);
  return rates[WINDOWS >> 1]!;
}

/** A number with three significant digits, grouped. */
export function formatValue(value: number): string {
  if (value >= 1000) return Math.round(Number(value.toPrecision(3))).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toString();
}
