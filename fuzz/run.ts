/**
 * Fuzz campaigns: `npm run fuzz -- --runs 100000 --seed 42 [--target ring] [--path P]`. Each
 * target runs its property over `runs` hostile inputs and prints how many it ran and how fast;
 * a failure prints the seed, the replay path and the shrunk counterexample, and the exit code
 * is 1. `--path` (with the same seed and one target) replays just that counterexample.
 */
import { parseArgs } from 'node:util';
import { targets } from './targets.js';

const usage = `usage: npm run fuzz -- [--runs N] [--seed S] [--target ${targets.map((t) => t.name).join('|')}]... [--path P]`;
function parse() {
  try {
    return parseArgs({
      options: {
        runs: { type: 'string', default: '10000' },
        seed: { type: 'string' },
        target: { type: 'string', multiple: true },
        path: { type: 'string' },
      },
    }).values;
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
    process.exit(2);
  }
}
const values = parse();

const runs = Number(values.runs);
const seed = values.seed === undefined ? Date.now() % 0x7fffffff : Number(values.seed);
if (!Number.isSafeInteger(runs) || runs <= 0 || !Number.isSafeInteger(seed)) {
  console.error(usage);
  process.exit(2);
}
const names = values.target ?? targets.map((t) => t.name);
const unknown = names.filter((n) => !targets.some((t) => t.name === n));
if (unknown.length > 0) {
  console.error(`no target ${unknown.join(', ')}; targets: ${targets.map((t) => t.name).join(', ')}`);
  process.exit(2);
}
if (values.path !== undefined && names.length !== 1) {
  console.error('--path replays one counterexample: name its --target (and its --seed)');
  process.exit(2);
}
const chosen = targets.filter((t) => names.includes(t.name));
// The seed first: a campaign cut short can still be replayed.
console.log(`fuzz: seed ${seed}, ${runs} inputs per target (${chosen.map((t) => t.name).join(', ')})`);

let failed = 0;
let total = 0;
for (const target of chosen) {
  const started = performance.now();
  const outcome = target.run({ numRuns: runs, seed, ...(values.path !== undefined ? { path: values.path } : {}) });
  const seconds = (performance.now() - started) / 1000;
  total += outcome.inputs;
  if (outcome.failure === undefined) {
    const rate = Math.round(outcome.inputs / Math.max(seconds, 1e-3));
    console.log(`${target.name}: ${outcome.inputs} inputs, 0 failures, ${rate} inputs/s (${seconds.toFixed(1)} s) — ${target.description}`);
    continue;
  }
  failed++;
  const f = outcome.failure;
  console.log(`${target.name}: FAILED at input ${outcome.inputs} (${seconds.toFixed(1)} s with shrinking) — ${target.description}`);
  console.log(`  replay: npm run fuzz -- --target ${target.name} --seed ${f.seed} --path "${f.path}"`);
  console.log(`  counterexample (shrunk): ${f.counterexample}`);
  console.log(`  error: ${f.error}`);
}
console.log(`fuzz: ${total} inputs in total, seed ${seed}, ${failed} failing target(s)`);
process.exit(failed > 0 ? 1 : 0);
