/**
 * The results table: the CLI's figures with the CLI's rounding. Every cell also carries the
 * exact figure it shows (`data-field`, `data-value`), so a reader (or a test) can compare it with
 * the CLI's JSON output digit for digit.
 */
import type { StrategyResult } from 'freehint';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const guest = (bytes: number): string => (bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${(bytes / MiB).toFixed(0)} MiB`);

interface Column {
  readonly title: string;
  /** The StrategyResult field the cell shows, if it shows one. */
  readonly field?: keyof StrategyResult;
  readonly text: (r: StrategyResult) => string;
  readonly numeric: boolean;
}

const count = (n: number): string => n.toLocaleString('en-US');

function change(r: StrategyResult): string {
  if (r.strategy === 'zero') return 'base';
  if (r.reductionVsZero === undefined) return '';
  const percent = Math.round(r.reductionVsZero * 100);
  return percent === 0 ? '±0%' : `${percent > 0 ? '+' : '−'}${Math.abs(percent)}%`;
}

const COLUMNS: readonly Column[] = [
  { title: 'strategy', field: 'strategy', numeric: false, text: (r) => r.strategy },
  { title: 'time (ms)', field: 'simulatedMs', numeric: true, text: (r) => r.simulatedMs.toFixed(0) },
  { title: 'vs zero', field: 'reductionVsZero', numeric: true, text: change },
  { title: 'downtime (ms)', field: 'downtimeMs', numeric: true, text: (r) => `${r.downtimeMs.toFixed(0)}${r.downtimeLimitMet ? '' : ' (over)'}` },
  { title: 'sent', field: 'bytes', numeric: true, text: (r) => `${(r.bytes / MiB).toFixed(0)} MiB` },
  { title: 'pages sent', field: 'pagesSent', numeric: true, text: (r) => count(r.pagesSent) },
  { title: 'zero pages', field: 'zeroPages', numeric: true, text: (r) => count(r.zeroPages) },
  { title: 'hinted', field: 'hintedPages', numeric: true, text: (r) => count(r.hintedPages) },
  { title: 'skipped', field: 'skippedZeroPages', numeric: true, text: (r) => count(r.skippedZeroPages) },
  { title: 'rounds', field: 'rounds', numeric: true, text: (r) => String(r.rounds) },
  { title: 'verified', field: 'verified', numeric: false, text: (r) => (r.verified ? 'yes' : `NO: ${r.problem ?? r.status}`) },
];

/** A figure with its exact value, for the caption. */
function exact(field: keyof StrategyResult, value: string | number, text: string): HTMLElement {
  const span = document.createElement('strong');
  span.dataset['field'] = field;
  span.dataset['value'] = String(value);
  span.textContent = text;
  return span;
}

/**
 * A table of `results` of one scenario, one row per strategy (`data-strategy` on each row); what
 * they share (the guest's size, the workload, the free-time policy) is said once, in the caption.
 */
export function resultsTable(results: readonly StrategyResult[]): HTMLTableElement {
  const table = document.createElement('table');
  table.id = 'results';
  const first = results[0];
  if (first !== undefined) {
    table
      .createCaption()
      .append(
        exact('guestBytes', first.guestBytes, guest(first.guestBytes)),
        ' guest, workload ',
        exact('workload', first.workload, first.workload),
        ', freed pages ',
        exact('freePolicy', first.freePolicy, first.freePolicy),
        `, seed ${first.seed}`,
      );
  }
  const head = table.createTHead().insertRow();
  for (const column of COLUMNS) {
    const th = document.createElement('th');
    th.textContent = column.title;
    th.scope = 'col';
    if (column.numeric) th.className = 'num';
    head.append(th);
  }
  const body = table.createTBody();
  for (const result of results) {
    const row = body.insertRow();
    row.dataset['strategy'] = result.strategy;
    if (!result.verified) row.className = 'failed';
    for (const column of COLUMNS) {
      const cell = row.insertCell();
      cell.textContent = column.text(result);
      if (column.numeric) cell.className = 'num';
      if (column.field !== undefined) {
        cell.dataset['field'] = column.field;
        const value = result[column.field];
        cell.dataset['value'] = value === undefined ? '' : String(value);
      }
    }
  }
  return table;
}
