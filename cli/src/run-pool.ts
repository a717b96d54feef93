/**
 * The runs of a comparison or sweep spread over worker threads. Each run (one strategy on one
 * scenario) boots its own guest from the scenario's seed and touches nothing shared, so a run
 * gives the same result on any thread; the results come back in the order of a serial run.
 */
import { Tinypool } from 'tinypool';
import type { StrategyResult } from 'freehint';
import type { RunTask } from './run-worker.js';

/**
 * Run `tasks` on up to `threads` worker threads; `onDone` hears of each run as it finishes (how
 * many are done, and the index of the one that just did). Resolves with the results in the
 * order of `tasks`; rejects with the first run's failure, after the pool is closed.
 */
export async function runOnWorkers(tasks: readonly RunTask[], threads: number, onDone: (done: number, index: number) => void): Promise<StrategyResult[]> {
  // From source (through a bootstrap that registers the TypeScript loader, and the core from
  // its source too) or from the build.
  const fromSource = import.meta.url.endsWith('.ts');
  const worker = new URL(fromSource ? './run-worker-from-source.mjs' : './run-worker.js', import.meta.url);
  const pool = new Tinypool({
    filename: worker.href,
    minThreads: 0,
    maxThreads: Math.max(1, Math.min(threads, tasks.length)),
    ...(fromSource ? { execArgv: [...process.execArgv, '--conditions=freehint-source'] } : {}),
  });
  let done = 0;
  const results: StrategyResult[] = new Array(tasks.length);
  // The largest guests first: a long run started last would finish alone while the other
  // threads idle. The results still go back in the order of `tasks`.
  const order = tasks.map((_, index) => index).sort((a, b) => tasks[b]!.scenario.guestBytes - tasks[a]!.scenario.guestBytes || a - b);
  try {
    await Promise.all(
      order.map(async (index) => {
        results[index] = (await pool.run(tasks[index])) as StrategyResult;
        onDone(++done, index);
      }),
    );
    return results;
  } finally {
    await pool.destroy();
  }
}
