/** The runs of a command (one strategy on one scenario each), serially or on the run pool. */
import { runStrategy, withReductions, type Scenario, type StrategyResult } from 'freehint';
import { guestSize } from './format.js';
import type { Progress } from './progress.js';
import { runOnWorkers } from './run-pool.js';
import type { RunTask } from './run-worker.js';

/** One strategy on one scenario: the unit of work a command runs and counts. */
export type RunJob = RunTask;

/** Every strategy of every scenario, in order. */
export function jobsOf(scenarios: readonly Scenario[]): RunJob[] {
  return scenarios.flatMap((scenario) => scenario.strategies.map((strategy) => ({ scenario, strategy })));
}

/** How a run is named in progress output: `idle 8 GiB zero+hint`. */
export function labelOf(job: RunJob): string {
  return `${job.scenario.workload} ${guestSize(job.scenario.guestBytes)}${job.scenario.freePolicy === 'none' ? '' : ` free:${job.scenario.freePolicy}`} ${job.strategy}`;
}

/** The simulator's results without its wall time (kept apart: see the JSON envelope). */
export type RunResult = Omit<StrategyResult, 'wallMs'>;

/** What a command ran: the results in job order, and the wall time of each run. */
export interface RunOutcome {
  readonly results: readonly RunResult[];
  readonly wallMs: readonly number[];
}

/**
 * Run the jobs, reporting each finished run: on `threads` worker threads when there is more
 * than one of each (the results are the same, see run-pool.ts), else one after the other in
 * this thread, each from the same starting guest (same seed, same history), yielding to the
 * event loop between runs so that a terminal bar redraws.
 */
export async function runJobs(jobs: readonly RunJob[], progress: Progress, threads = 1): Promise<RunOutcome> {
  const results: StrategyResult[] = [];
  if (threads > 1 && jobs.length > 1) {
    results.push(...(await runOnWorkers(jobs, threads, (done, index) => progress.onRunDone(done, jobs.length, labelOf(jobs[index]!)))));
  } else {
    for (const [index, job] of jobs.entries()) {
      const label = labelOf(job);
      results.push(runStrategy(job.scenario, job.strategy, (round) => progress.onActivity(`${label}: round ${round.round}, ${round.remainingPages} pages left`)));
      progress.onRunDone(index + 1, jobs.length, label);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return {
    results: withReductions(results).map(({ wallMs: _wallMs, ...result }) => result),
    wallMs: results.map((r) => r.wallMs),
  };
}
