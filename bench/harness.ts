/** A figure a benchmark prints: a name, a value, its unit, and an optional remark. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly note?: string;
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

/**
 * Operations per second of `op`, which does `batch` operations per call: a warm-up, then calls
 * until `ms` have passed. Wall-clock time, on a shared machine: compare figures from one run.
 */
export function opsPerSecond(op: () => void, batch: number, ms: number): number {
  const warmUntil = performance.now() + ms / 5;
  while (performance.now() < warmUntil) op();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    op();
    calls++;
    now = performance.now();
  }
  return (calls * batch * 1000) / (now - start);
}

/** A number with three significant digits, grouped. */
export function formatValue(value: number): string {
  if (value >= 1000) return Math.round(Number(value.toPrecision(3))).toLocaleString('en-US');
  return Number(value.toPrecision(3)).toString();
}
