/**
 * `npm run bench [-- --quick] [-- --filter NAME]`: one line per figure, the goal it answers
 * (P1 … P6) with "met" or "not met" beside it, and a summary of the goals at the end.
 * Wall-clock figures on a shared machine: compare figures from the same run.
 */
import { parseArgs } from 'node:util';
import { compare } from './compare.js';
import { formatValue, type Benchmark, type Figure } from './harness.js';
import { hints } from './hints.js';
import { kick } from './kick.js';
import { migration } from './migration.js';
import { postcopy } from './postcopy.js';
import { ring } from './ring.js';
import { scale } from './scale.js';
import { sweepBench } from './sweep.js';
import { zeroScan } from './zero-scan.js';

const benchmarks: readonly Benchmark[] = [zeroScan, ring, hints, kick, scale, migration, postcopy, compare, sweepBench];

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, filter: { type: 'string' } } });
const goals: Figure[] = [];
for (const bench of benchmarks) {
  if (values.filter && !bench.name.includes(values.filter)) continue;
  for (const f of await bench.figures({ quick: values.quick ?? false })) {
    const goal = f.goal ? ` [${f.goal.id} ${f.goal.bound}: ${f.goal.met ? 'met' : 'not met'}]` : '';
    console.log(`${f.name}: ${formatValue(f.value)} ${f.unit}${goal}${f.note ? ` (${f.note})` : ''}`);
    if (f.goal) goals.push(f);
  }
}
if (goals.length > 0) {
  console.log('\ngoals:');
  for (const id of [...new Set(goals.map((f) => f.goal!.id))].sort()) {
    const figures = goals.filter((f) => f.goal!.id === id);
    const missed = figures.filter((f) => !f.goal!.met);
    console.log(`  ${id}: ${missed.length === 0 ? 'met' : 'not met'} (${figures.length - missed.length} of ${figures.length} figures)${missed.length ? `; missed: ${missed.map((f) => f.name).join('; ')}` : ''}`);
  }
}
