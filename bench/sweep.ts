import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StrategyResult } from '../src/sim/compare.js';
import { atLeast, type Benchmark } from './harness.js';

// The package root, from source (bench/) or from the bundle (bench/.build/).
const root = join(import.meta.dirname, import.meta.dirname.endsWith('.build') ? '../..' : '..');

/** A 16-scenario sweep (4 sizes × 2 workloads × 2 free-time policies, three strategies each). */
const SWEEP = ['--sizes', '1G,2G,4G,8G', '--workloads', 'idle,compile', '--free-policies', 'none,zero'];
const QUICK_SWEEP = ['--sizes', '512M,1G', '--workloads', 'idle', '--free-policies', 'none,zero', '--warmup', '500'];

/** Run the sweep as a user would (a fresh process, from source) on `jobs` threads: its wall time and results. */
function sweep(args: readonly string[], jobs: number): { wallMs: number; results: StrategyResult[] } {
  const cli = ['--conditions=freehint-source', '--import', 'tsx', join(root, 'cli/src/cli.ts'), 'sweep', ...args, '--jobs', String(jobs), '--json', '--out', mkdtempSync(join(tmpdir(), 'freehint-bench-'))];
  const started = performance.now();
  const child = spawnSync(process.execPath, cli, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`the sweep failed: ${child.stderr}`);
  return { wallMs, results: JSON.parse(child.stdout) as StrategyResult[] };
}

const modelled = (results: readonly StrategyResult[]): string => JSON.stringify(results.map(({ wallMs: _wall, ...rest }) => rest));

/** P6: the sweep on every core against one thread, in the same run; the results must be the same. */
export const sweepBench: Benchmark = {
  name: 'sweep',
  figures({ quick }) {
    const args = quick ? QUICK_SWEEP : SWEEP;
    const cores = availableParallelism();
    const serial = sweep(args, 1);
    const parallel = sweep(args, cores);
    const speedup = serial.wallMs / parallel.wallMs;
    const same = modelled(serial.results) === modelled(parallel.results);
    return [
      {
        name: `sweep of ${quick ? 4 : 16} scenarios (${serial.results.length} runs), ${cores} threads vs 1: speed-up`,
        value: speedup,
        unit: '×',
        goal: { ...atLeast('P6', speedup, 1.7, '×'), met: speedup >= 1.7 && same },
        note: `${(parallel.wallMs / 1000).toFixed(1)} s vs ${(serial.wallMs / 1000).toFixed(1)} s wall; results ${same ? 'identical' : 'DIFFER'}${cores < 2 ? '; one core: no speed-up possible' : ''}`,
      },
    ];
  },
};
