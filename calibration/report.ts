/**
 * Prints the reference tables beside the model's figures, as Markdown (the README's calibration
 * tables): `npx tsx calibration/report.ts`.
 */
import { markdownTable } from 'markdown-table';
import { calibrate, type ReferenceTable } from '../src/sim/calibration.js';
import { publishedTable, qemuTable } from './reference.js';

const pct = (change: number): string => `${change >= 0 ? '+' : '−'}${Math.abs(Math.round(change * 100))}%`;
const ms = (value: number): string => Math.round(value).toLocaleString('en-US');

function report(table: ReferenceTable): string {
  const rows = table.rows.map((row) => {
    const c = calibrate(table, row);
    return [
      row.label,
      `${ms(c.reference.legacyMs)} → ${ms(c.reference.hintMs)}`,
      c.reference.changeInterval ? `${pct(c.reference.change)} (${pct(c.reference.changeInterval[0])} to ${pct(c.reference.changeInterval[1])})` : pct(c.reference.change),
      `${ms(c.model.legacyMs)} → ${ms(c.model.hintMs)}`,
      pct(c.model.change),
      c.orderingRight ? c.model.ordering : `${c.model.ordering} (wrong)`,
      `${Math.round(Math.abs(c.model.change - c.reference.change) * 100)} of ${Math.round(c.tolerancePoints)}`,
    ];
  });
  const head = ['setup', 'reference (ms, legacy → hints)', table.rows.some((r) => r.changeInterval) ? 'change (90% interval)' : 'change', 'model (ms)', 'change', 'ordering', 'points off'];
  return `**${table.name}** on \`${table.host}\`\n\n${markdownTable([head, ...rows], { align: ['l', 'r', 'r', 'r', 'r', 'l', 'r'] })}\n`;
}

for (const table of [publishedTable('published-v34.json'), publishedTable('published-v37.json'), qemuTable()]) console.log(report(table));
