import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StrategyResult } from '../src/sim/compare.js';
import type { Benchmark, Figure } from './harness.js';

// The package root, from source (bench/) or from the bundle (bench/.build/).
const root = join(import.meta.dirname, import.meta.dirname.endsWith('.build') ? '../..' : '..');

/**
 * The default comparison as `npm start` runs it (a fresh process, from source): its wall time
 * (P3, goal < 10 s), and for every strategy the simulator's wall time against the simulated
 * migration time it reports (P5, goal < 1).
 */
export const compare: Benchmark = {
  name: 'compare',
  figures({ quick }) {
    const args = ['--conditions=freehint-source', '--import', 'tsx', join(root, 'cli/src/cli.ts'), 'compare', '--json', '--out', mkdtempSync(join(tmpdir(), 'freehint-bench-'))];
    if (quick) args.push('--guest', '1G');
    const started = performance.now();
    const child = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = performance.now() - started;
    if (child.status !== 0) throw new Error(`the comparison failed: ${child.stderr}`);
    const results = JSON.parse(child.stdout) as StrategyResult[];
    const figures: Figure[] = [
      { name: `default comparison (npm start${quick ? ', 1 GiB guests' : ''}), wall`, value: wall / 1000, unit: 's', note: `${results.length} migrations, all verified: ${results.every((r) => r.verified)}` },
    ];
    for (const r of results) {
      figures.push({
        name: `${r.workload} ${r.strategy}: simulator wall / simulated time`,
        value: r.wallMs / r.simulatedMs,
        unit: '×',
        note: `${r.wallMs.toFixed(0)} ms wall for ${r.simulatedMs.toFixed(0)} ms simulated, boot and warm-up included`,
      });
    }
    return figures;
  },
};
