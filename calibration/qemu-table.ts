/**
 * The Markdown table of a QEMU calibration run (hint off against hint on, per setup), as
 * `npm run calibrate:qemu` prints it after measuring and as calibration/README.md shows it.
 * `npm run calibrate:qemu -- --table <file>` prints it from a committed JSON without measuring.
 */
import { readFileSync } from 'node:fs';

/** Hint off against hint on for one (D, bandwidth, init_on_alloc): the `comparison` entries of the JSON. */
export interface Comparison {
  readonly freedMiB: number;
  readonly bandwidth: string;
  readonly initOnAlloc: number;
  readonly off: Readonly<Record<string, number>>;
  readonly on: Readonly<Record<string, number>>;
  readonly totalTimeChangePercent: number;
  /** total-time of every repetition, hint off and on. */
  readonly totalTimeReps: { readonly off: readonly number[]; readonly on: readonly number[] };
}

export function table(comparisons: readonly Comparison[]): string {
  const head =
    '| D (MiB) | bandwidth | init_on_alloc | total ms off → on | change | total ms range off; on | downtime ms off → on | transferred MiB off → on | normal pages off → on | zero pages off → on | dirty syncs off → on |';
  const rule = '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const range = (values: readonly number[]): string => `${Math.min(...values)}–${Math.max(...values)}`;
  const pair = (a: number | undefined, b: number | undefined, scale = 1, digits = 0): string => `${((a ?? NaN) / scale).toFixed(digits)} → ${((b ?? NaN) / scale).toFixed(digits)}`;
  const lines = comparisons.map((c) =>
    [
      c.freedMiB,
      c.bandwidth,
      c.initOnAlloc,
      pair(c.off['total-time'], c.on['total-time']),
      `${c.totalTimeChangePercent > 0 ? '+' : ''}${c.totalTimeChangePercent.toFixed(1)}%`,
      `${range(c.totalTimeReps.off)}; ${range(c.totalTimeReps.on)}`,
      pair(c.off['downtime'], c.on['downtime']),
      pair(c.off['ram.transferred'], c.on['ram.transferred'], 1 << 20, 1),
      pair(c.off['ram.normal'], c.on['ram.normal']),
      pair(c.off['ram.duplicate'], c.on['ram.duplicate']),
      pair(c.off['ram.dirty-sync-count'], c.on['ram.dirty-sync-count']),
    ].join(' | '),
  );
  return [head, rule, ...lines.map((l) => `| ${l} |`)].join('\n');
}

/** The table of a JSON written by `npm run calibrate:qemu`, from its `comparison`. */
export function tableOfFile(path: string): string {
  const report = JSON.parse(readFileSync(path, 'utf8')) as { comparison?: readonly Comparison[] };
  if (!Array.isArray(report.comparison)) throw new Error(`${path} has no "comparison": not a calibrate:qemu JSON`);
  return table(report.comparison);
}
