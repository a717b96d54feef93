import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StrategyResult } from '../src/sim/compare.js';
import { below, type Benchmark, type Figure } from './harness.js';

// The package root, from source (bench/) or from the bundle (bench/.build/).
const root = join(import.meta.dirname, import.meta.dirname.endsWith('.build') ? '../..' : '..');

/**
 * The default comparison as `npm start` runs it (a fresh process, from source): its wall time
 * (P3, goal < 10 s), and for every run its wall time, boot and warm-up included, against the
 * simulated migration time (P5 itself, the migration alone, is the migration benchmark's).
 */
export const compare: Benchmark = {
  name: 'compare',
  figures({ quick }) {
    const args = ['--conditions=freehint-source', '--import', 'tsx', join(root, 'cli/src/cli.ts'), 'compare', '--json', '--timing', '--no-progress', '--out', mkdtempSync(join(tmpdir(), 'freehint-bench-'))];
    if (quick) args.push('--guest', '1G');
    const started = performance.now();
    const child = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = performance.now() - started;
    if (child.status !== 0) throw new Error(`the comparison failed: ${child.stderr}`);
    // The results, and this machine's wall time per run apart from them (--timing).
    const output = JSON.parse(child.stdout) as { results: Omit<StrategyResult, 'wallMs'>[]; timing: { runs: Array<{ wallMs: number }> } };
    const results = output.results.map((r, i) => ({ ...r, wallMs: output.timing.runs[i]?.wallMs ?? Number.NaN }));
    const figures: Figure[] = [
      {
        name: `default comparison (npm start${quick ? ', 1 GiB guests' : ''}), wall`,
        value: wall / 1000,
        unit: 's',
        goal: below('P3', wall / 1000, 10, ' s'),
        note: `${results.length} migrations, all verified: ${results.every((r) => r.verified)}`,
      },
    ];
    for (const r of results) {
      const ratio = r.wallMs / r.simulatedMs;
      figures.push({
        name: `${r.workload} ${r.strategy}: simulator wall / simulated time`,
        value: ratio,
        unit: '×',
        note: `${r.wallMs.toFixed(0)} ms wall for ${r.simulatedMs.toFixed(0)} ms simulated, boot and warm-up included`,
      });
    }
    return figures;
  },
};
