/**
 * The comparison runs here, off the page's thread: a migration of a large guest takes seconds
 * of simulation, and the page must keep drawing its progress and answering clicks meanwhile.
 * The orchestration is the core's own (`compareScenarios`, `withReductions`), the one the CLI's
 * `compare` and `run` use, so the same scenario and seed give the same numbers.
 */
import { checkScenario, compareScenarios, withReductions, type CompareEvent, type StrategyResult } from 'freehint';
import type { RunRequest, WorkerReply } from './protocol.js';

/** The worker's global scope, as far as it is used here (the DOM lib types `self` as a window). */
interface WorkerScope {
  postMessage(message: WorkerReply): void;
  onmessage: ((event: MessageEvent<RunRequest>) => void) | null;
}
const scope = self as unknown as WorkerScope;

function label(event: CompareEvent): string {
  if (event.kind === 'result') return `${event.result.strategy}: done`;
  const { strategy, round, remainingPages } = event.progress;
  return `${strategy}: round ${round}, ${remainingPages.toLocaleString('en-US')} dirty pages left`;
}

scope.onmessage = ({ data }) => {
  if (data.kind !== 'run') return;
  let results: StrategyResult[] = [];
  try {
    const scenario = checkScenario(data.scenario);
    compareScenarios([scenario]).subscribe({
      next: (event) => {
        if (event.kind === 'result') results.push(event.result);
        scope.postMessage({ kind: 'progress', done: event.kind === 'result' ? event.run + 1 : event.run, runs: event.runs, label: label(event) });
      },
      error: (error: unknown) => scope.postMessage({ kind: 'error', message: error instanceof Error ? error.message : String(error) }),
      complete: () => {
        results = withReductions(results);
        scope.postMessage({ kind: 'results', results });
      },
    });
  } catch (error) {
    scope.postMessage({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
  }
};
