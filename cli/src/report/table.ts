/** Results as Markdown tables and CSV. */
import { markdownTable } from 'markdown-table';
import type { PostcopyVariantResult, StrategyResult } from 'freehint';
import { guestSize, percentChange } from '../format.js';
import type { RunResult } from '../runs.js';

const MiB = 2 ** 20;

/** A table as cells, for Markdown in a terminal and HTML in a report alike. */
export interface Table {
  readonly header: readonly string[];
  /** 'l' or 'r' per column. */
  readonly align: readonly ('l' | 'r')[];
  readonly rows: ReadonlyArray<readonly string[]>;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The change against zero detection, as −84% or +3%; `base` for zero detection itself. */
function change(r: RunResult): string {
  if (r.strategy === 'zero') return 'base';
  return r.reductionVsZero === undefined ? '' : percentChange(r.reductionVsZero);
}

/** One row per strategy run. */
export function resultsCells(results: readonly RunResult[]): Table {
  return {
    header: ['guest', 'workload', 'free', 'strategy', 'time (ms)', 'vs zero', 'downtime (ms)', 'sent', 'pages sent', 'zero pages', 'hinted', 'skipped', 'rounds', 'verified'],
    align: ['r', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: results.map((r) => [
      guestSize(r.guestBytes),
      r.workload,
      r.freePolicy,
      r.strategy,
      r.simulatedMs.toFixed(0),
      change(r),
      `${r.downtimeMs.toFixed(0)}${r.downtimeLimitMet ? '' : ' (over)'}`,
      `${(r.bytes / MiB).toFixed(0)} MiB`,
      count(r.pagesSent),
      count(r.zeroPages),
      count(r.hintedPages),
      count(r.skippedZeroPages),
      String(r.rounds),
      r.verified ? 'yes' : `NO: ${r.problem ?? r.status}`,
    ]),
  };
}

/** The postcopy comparison, one row per variant. */
export function postcopyCells(results: readonly PostcopyVariantResult[]): Table {
  const mib = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;
  return {
    header: ['variant', 'time (ms)', 'downtime (ms)', 'precopy', 'background', 'on request', 'faults', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'local', 'verified'],
    align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'],
    rows: results.map((r) => [
      r.variant,
      r.totalMs.toFixed(0),
      r.downtimeMs.toFixed(0),
      mib(r.precopyBytes),
      mib(r.precopyChannelBytes),
      mib(r.postcopyChannelBytes),
      count(r.faults),
      r.faultP50Ms.toFixed(2),
      r.faultP99Ms.toFixed(2),
      r.faultMaxMs.toFixed(2),
      count(r.resolvedLocally),
      r.verified ? 'yes' : `NO (${r.status})`,
    ]),
  };
}

/** A table as Markdown (readable in a terminal, pasteable into a README). */
export function markdown(table: Table): string {
  return markdownTable([[...table.header], ...table.rows.map((row) => [...row])], { align: [...table.align] });
}

/** Results as a Markdown table. */
export function resultsTable(results: readonly RunResult[]): string {
  return markdown(resultsCells(results));
}

/** The postcopy comparison as a Markdown table. */
export function postcopyTable(results: readonly PostcopyVariantResult[]): string {
  return markdown(postcopyCells(results));
}

/** Results as CSV, one row per strategy run. */
export function resultsCsv(results: readonly RunResult[]): string {
  const columns = [
    'guestBytes',
    'workload',
    'freePolicy',
    'seed',
    'strategy',
    'status',
    'verified',
    'simulatedMs',
    'reductionVsZero',
    'downtimeMs',
    'downtimeLimitMet',
    'bytes',
    'pagesSent',
    'zeroPages',
    'hintedPages',
    'skippedZeroPages',
    'rounds',
    'syncs',
  ] as const satisfies ReadonlyArray<keyof StrategyResult>;
  const cell = (value: unknown): string => {
    const text = value === undefined ? '' : String(value);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.join(','), ...results.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}
