/** One self-contained HTML page per run: setup, table and charts, no script, no network. */
import type { Table } from './table.js';

/** What one report page shows: a title, facts about the run, a table, charts, notes. */
export interface HtmlReport {
  readonly title: string;
  /** Label and value pairs: version, command, seed, setup. */
  readonly facts: ReadonlyArray<readonly [string, string]>;
  readonly table: Table;
  /** Standalone SVG documents, rendered here rather than in the browser. */
  readonly charts: readonly string[];
  readonly notes: readonly string[];
}

const escapeHtml = (text: string): string => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/**
 * One self-contained page: the charts are inline SVG and the style is inline, so it opens
 * from disk or a mail attachment with no network and no script.
 */
export function htmlReport(report: HtmlReport): string {
  const { header, align, rows } = report.table;
  const cell = (tag: 'th' | 'td', text: string, i: number): string => `<${tag}${align[i] === 'r' ? ' class="r"' : ''}>${escapeHtml(text)}</${tag}>`;
  const charts = report.charts.map((svg) => `<figure>${svg.replace(/^<\?xml[^>]*>\s*/, '')}</figure>`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(report.title)}</title>
<style>
body { font: 14px/1.45 Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2em 1em; }
dt { font-weight: bold; }
dd { margin: 0; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: 0.25em 0.6em; border-bottom: 1px solid #ddd; text-align: left; white-space: nowrap; }
th { background: #f4f4f4; }
.r { text-align: right; }
figure { margin: 1.5em 0; overflow-x: auto; }
</style>
</head>
<body>
<h1>${escapeHtml(report.title)}</h1>
<dl>
${report.facts.map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`).join('\n')}
</dl>
<table>
<thead><tr>${header.map((h, i) => cell('th', h, i)).join('')}</tr></thead>
<tbody>
${rows.map((row) => `<tr>${row.map((c, i) => cell('td', c, i)).join('')}</tr>`).join('\n')}
</tbody>
</table>
${charts.join('\n')}
${report.notes.map((note) => `<p>${escapeHtml(note)}</p>`).join('\n')}
</body>
</html>
`;
}
