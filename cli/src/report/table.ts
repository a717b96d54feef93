/** Results as Markdown tables and CSV. */
import { markdownTable } from 'markdown-table';
import type { PostcopyVariantResult, StrategyResult } from 'freehint';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

function size(bytes: number): string {
  return bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${(bytes / MiB).toFixed(0)} MiB`;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** The change against zero detection, as −84% or +3%; `base` for zero detection itself. */
function change(r: StrategyResult): string {
  if (r.strategy === 'zero') return 'base';
  if (r.reductionVsZero === undefined) return '';
  const percent = Math.round(r.reductionVsZero * 100);
  return percent === 0 ? '±0%' : `${percent > 0 ? '+' : '−'}${Math.abs(percent)}%`;
}

/** Results as a Markdown table (readable in a terminal, pasteable into a README). */
export function resultsTable(results: readonly StrategyResult[]): string {
  const header = ['guest', 'workload', 'free', 'strategy', 'time (ms)', 'vs zero', 'downtime (ms)', 'sent', 'pages sent', 'zero pages', 'hinted', 'skipped', 'rounds', 'verified'];
  const rows = results.map((r) => [
    size(r.guestBytes),
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
  ]);
  return markdownTable([header, ...rows], { align: ['r', 'l', 'l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'] });
}

/** Results as CSV, one row per strategy run. */
export function resultsCsv(results: readonly StrategyResult[]): string {
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
  ] as const;
  const cell = (value: unknown): string => {
    const text = value === undefined ? '' : String(value);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return [columns.join(','), ...results.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\n') + '\n';
}

/** The postcopy comparison as a Markdown table. */
export function postcopyTable(results: readonly PostcopyVariantResult[]): string {
  const header = ['variant', 'time (ms)', 'downtime (ms)', 'precopy', 'background', 'on request', 'faults', 'p50 (ms)', 'p99 (ms)', 'max (ms)', 'local', 'verified'];
  const mib = (b: number): string => `${(b / MiB).toFixed(0)} MiB`;
  const rows = results.map((r) => [
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
  ]);
  return markdownTable([header, ...rows], { align: ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'l'] });
}
