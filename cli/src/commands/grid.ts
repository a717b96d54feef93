/** `freehint compare` and `freehint sweep`: a grid of scenarios (or one part of it) run and reported. */
import type { Command } from 'commander';
import type { Scenario } from 'freehint';
import { availableParallelism } from 'node:os';
import { parseWhole } from '../input/numbers.js';
import { checkOutputDir } from '../input/out-dir.js';
import { parseShard, shardOf } from '../input/shard.js';
import { progressFor } from '../progress.js';
import { jobsOf, runJobs, type RunOutcome } from '../runs.js';
import { reportRuns, type ReportKind } from './report-runs.js';
import { gridScenarios, scenarioOptions, type GridOptions, type OutputOptions } from './scenario-options.js';
import { comparisonChart, sweepChart } from '../report/plots.js';

/** More worker threads than this would only queue for the cores. */
const MAX_THREADS = 256;

/** Run checked scenarios with progress, then report them: the part compare, sweep and run share. */
export async function runAndReport(kind: ReportKind, scenarios: readonly Scenario[], options: OutputOptions): Promise<void> {
  const threads = options.jobs === undefined ? availableParallelism() : parseWhole(options.jobs, '--jobs', 1, MAX_THREADS);
  checkOutputDir(options.out);
  const jobs = jobsOf(scenarios);
  const progress = progressFor(options.progress, kind.command, jobs.length);
  let outcome: RunOutcome;
  try {
    outcome = await runJobs(jobs, progress, threads);
  } finally {
    progress.stop();
  }
  await reportRuns(kind, scenarios, jobs, outcome, options);
}

/** How compare and sweep name and draw their results (merge reports their parts alike). */
export const COMPARE_REPORT: ReportKind = { command: 'compare', name: 'compare', chart: comparisonChart, csv: false, title: 'freehint: migration strategies compared' };
export const SWEEP_REPORT: ReportKind = { command: 'sweep', name: 'sweep', chart: sweepChart, csv: true, title: 'freehint: strategies against guest size' };

/** The grid, or with `--shard i/n` its part i: run and report it. */
async function runGrid(kind: ReportKind, grid: readonly Scenario[], options: GridOptions): Promise<void> {
  if (options.shard === undefined) return runAndReport(kind, grid, options);
  const part = parseShard(options.shard, grid.length);
  return runAndReport(kind, shardOf(grid, part), { ...options, part });
}

export function compareCommand(cli: Command): void {
  scenarioOptions(
    cli
      .command('compare', { isDefault: true })
      .description('run the strategies side by side on 8 GiB idle and compile guests (the published setup); writes compare.json, compare.svg and compare.html')
      .option('--guest <size>', 'guest RAM, e.g. 512M, 8G, 1T', '8G'),
  ).action(async (options: GridOptions) => {
    const scenarios = gridScenarios(options, options.guest ?? '8G');
    await runGrid(COMPARE_REPORT, scenarios, options);
  });
}

export function sweepCommand(cli: Command): void {
  scenarioOptions(
    cli
      .command('sweep')
      .description('run a grid of guest sizes × workloads × free-time policies × strategies; writes sweep.csv, sweep.json, sweep.svg and sweep.html (change against guest size)')
      .option('--sizes <list>', 'guest sizes, comma-separated', '1G,2G,4G,8G,16G,32G,64G'),
  ).action(async (options: GridOptions) => {
    const scenarios = gridScenarios({ ...options, strategies: options.strategies ?? 'zero,zero+zero-skip,zero+hint' }, options.sizes ?? '');
    await runGrid(SWEEP_REPORT, scenarios, options);
  });
}
