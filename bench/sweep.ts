import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { atLeast, type Benchmark } from './harness.js';

// The package root, from source (bench/) or from the bundle (bench/.build/).
const root = join(import.meta.dirname, import.meta.dirname.endsWith('.build') ? '../..' : '..');

/** A 16-scenario sweep (4 sizes × 2 workloads × 2 free-time policies, three strategies each). */
const SWEEP = ['--sizes', '4G,8G,16G,32G', '--workloads', 'idle,compile', '--free-policies', 'none,zero'];
const QUICK_SWEEP = ['--sizes', '512M,1G', '--workloads', 'idle', '--free-policies', 'none,zero', '--warmup', '500'];

/** CPU seconds used so far by this process's finished children (Linux: /proc/self/stat), NaN elsewhere. */
function childCpuSeconds(): number {
  try {
    // Fields after the command name: cutime and cstime are the 14th and 15th, in clock ticks (100 per second).
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Build the packages as an install has them: the command line and its worker on the built core. */
function buildPackages(): void {
  const tsup = createRequire(import.meta.url).resolve('tsup/dist/cli-default.js');
  execFileSync(process.execPath, [tsup], { cwd: root, stdio: 'pipe' });
  execFileSync(process.execPath, [tsup], { cwd: join(root, 'cli'), stdio: 'pipe' });
}

/** Run the sweep as an installed `freehint` would (a fresh process, built) on `jobs` threads: its wall time, its JSON and its runs. */
function sweep(args: readonly string[], jobs: number): { wallMs: number; json: string; runs: number; cores: number } {
  const cli = [join(root, 'cli/dist/cli.js'), 'sweep', ...args, '--jobs', String(jobs), '--json', '--no-progress', '--out', mkdtempSync(join(tmpdir(), 'freehint-bench-'))];
  const started = performance.now();
  const before = childCpuSeconds();
  const child = spawnSync(process.execPath, cli, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  const wallMs = performance.now() - started;
  const cores = (childCpuSeconds() - before) / (wallMs / 1000);
  if (child.status !== 0) throw new Error(`the sweep failed: ${child.stderr}`);
  return { wallMs, json: child.stdout, runs: (JSON.parse(child.stdout) as { results: unknown[] }).results.length, cores };
}

/** P6: the sweep on every core against one thread, in the same run; the results must be the same. */
export const sweepBench: Benchmark = {
  name: 'sweep',
  figures({ quick }) {
    const args = quick ? QUICK_SWEEP : SWEEP;
    const cores = availableParallelism();
    buildPackages();
    const serial = sweep(args, 1);
    const parallel = sweep(args, cores);
    const speedup = serial.wallMs / parallel.wallMs;
    const same = serial.json === parallel.json;
    return [
      {
        name: `sweep of ${quick ? 4 : 16} scenarios (${serial.runs} runs), ${cores} threads vs 1: speed-up`,
        value: speedup,
        unit: '×',
        goal: { ...atLeast('P6', speedup, 1.7, '×'), met: speedup >= 1.7 && same },
        note: `${(parallel.wallMs / 1000).toFixed(1)} s vs ${(serial.wallMs / 1000).toFixed(1)} s wall, the serial run using ${serial.cores.toFixed(2)} cores (V8's helper threads, the kernel zeroing pages); JSON output ${same ? 'identical byte for byte' : 'DIFFERS'}${cores < 2 ? '; one core: no speed-up possible' : ''}`,
      },
    ];
  },
};
