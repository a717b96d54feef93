/**
 * Fuzz campaigns: `npm run fuzz -- --runs 100000 --seed 42 [--target ring]`. Each target runs
 * its property over `runs` hostile inputs and prints inputs per second; a failure prints the
 * seed, the replay path and the shrunk counterexample, and the exit code is 1.
 */
import { parseArgs } from 'node:util';
import { targets } from './targets.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    target: { type: 'string', multiple: true },
  },
});

const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 0x7fffffff : Number(values.seed);
if (!Number.isSafeInteger(runs) || runs <= 0 || !Number.isSafeInteger(seed)) {
  console.error(`usage: npm run fuzz -- --runs N --seed S [--target ${targets.map((t) => t.name).join('|')}]`);
  process.exit(2);
}
const chosen = values.target ? targets.filter((t) => values.target!.includes(t.name)) : targets;
if (chosen.length === 0) {
  console.error(`no such target; targets: ${targets.map((t) => t.name).join(', ')}`);
  process.exit(2);
}

let failed = 0;
let total = 0;
for (const target of chosen) {
  const started = performance.now();
  const outcome = target.run(runs, seed);
  const seconds = (performance.now() - started) / 1000;
  total += outcome.inputs;
  if (outcome.failure) {
    failed++;
    const f = outcome.failure;
    console.log(`${target.name}: FAILED after ${outcome.inputs} inputs (replay: seed ${f.seed}, path "${f.path}")`);
    console.log(`  counterexample: ${f.counterexample}`);
    console.log(`  error: ${f.error}`);
  } else {
    console.log(`${target.name}: ${outcome.inputs} inputs, 0 failures, ${Math.round(outcome.inputs / seconds)} inputs/s — ${target.description}`);
  }
}
console.log(`fuzz: ${total} inputs in total, seed ${seed}, ${failed} failing target(s)`);
process.exit(failed > 0 ? 1 : 0);
