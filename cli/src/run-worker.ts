/** A worker thread of the run pool: one strategy on one scenario, as a serial run would do it. */
import { runStrategy, type Scenario, type StrategyResult } from 'freehint';

/** What the pool asks of a worker. */
export interface RunTask {
  readonly scenario: Scenario;
  readonly strategy: string;
}

export default function runTask({ scenario, strategy }: RunTask): StrategyResult {
  return runStrategy(scenario, strategy);
}
