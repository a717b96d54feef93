/**
 * `npm run bench [-- --quick] [-- --filter NAME]`: one line per figure. Wall-clock figures on a
 * shared machine: compare figures from the same run (the notes give such ratios).
 */
import { parseArgs } from 'node:util';
import { compare } from './compare.js';
import { formatValue, type Benchmark } from './harness.js';
import { hints } from './hints.js';
import { kick } from './kick.js';
import { migration } from './migration.js';
import { postcopy } from './postcopy.js';
import { ring } from './ring.js';
import { scale } from './scale.js';
import { zeroScan } from './zero-scan.js';

const benchmarks: readonly Benchmark[] = [zeroScan, ring, hints, kick, scale, migration, postcopy, compare];

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, filter: { type: 'string' } } });
for (const bench of benchmarks) {
  if (values.filter && !bench.name.includes(values.filter)) continue;
  for (const f of await bench.figures({ quick: values.quick ?? false })) {
    console.log(`${f.name}: ${formatValue(f.value)} ${f.unit}${f.note ? ` (${f.note})` : ''}`);
  }
}
