/** Messages between the comparison page and its worker (structured-cloned plain data). */
import type { StrategyResult } from 'freehint';

/** Run every strategy of one scenario, given as plain input for `checkScenario`. */
export interface RunRequest {
  readonly kind: 'run';
  readonly scenario: Readonly<Record<string, unknown>>;
}

export type WorkerReply =
  /** `done` runs of `runs` finished; `label` says what runs now. */
  | { readonly kind: 'progress'; readonly done: number; readonly runs: number; readonly label: string }
  /** Every result, with the reductions against zero detection filled in (as the CLI prints them). */
  | { readonly kind: 'results'; readonly results: readonly StrategyResult[] }
  /** A bad scenario or a failed run, in one line. */
  | { readonly kind: 'error'; readonly message: string };
