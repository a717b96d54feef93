/** The versioned JSON envelope every results file and `--json` output uses. */
import type { Scenario } from 'freehint';
import type { Shard } from '../input/shard.js';
import { VERSION } from '../version.js';

/** Bumped when a field of the envelope changes meaning or goes away. */
export const RESULTS_FORMAT_VERSION = 1;

/** Wall time of this machine, per run: kept apart from the results, which depend on the seed only. */
export interface Timing {
  readonly runs: ReadonlyArray<{ readonly label: string; readonly wallMs: number }>;
}

/**
 * The JSON a command writes and prints: what made the results (tool, version, command,
 * scenarios, seed) and the results. Without `timing` the same inputs give the same bytes.
 */
export interface ResultsEnvelope<R> {
  readonly format: 'freehint-results';
  readonly formatVersion: number;
  readonly tool: { readonly name: 'freehint'; readonly version: string };
  readonly command: string;
  readonly seed: number;
  readonly scenarios: readonly Scenario[];
  /** Settings of the command beyond the scenarios (postcopy's rounds and huge page size). */
  readonly options?: Readonly<Record<string, unknown>>;
  /** Set when these are the results of one part of a grid (`--shard i/n`; `merge` joins them). */
  readonly shard?: Shard;
  readonly results: readonly R[];
  readonly timing?: Timing;
}

export function envelope<R>(command: string, scenarios: readonly Scenario[], results: readonly R[], extra: { options?: Record<string, unknown>; shard?: Shard; timing?: Timing } = {}): ResultsEnvelope<R> {
  return {
    format: 'freehint-results',
    formatVersion: RESULTS_FORMAT_VERSION,
    tool: { name: 'freehint', version: VERSION },
    command,
    // Every scenario of one command runs from the same seed (`--seed`).
    seed: scenarios[0]?.seed ?? 1,
    scenarios,
    ...(extra.options !== undefined ? { options: extra.options } : {}),
    ...(extra.shard !== undefined ? { shard: extra.shard } : {}),
    results,
    ...(extra.timing !== undefined ? { timing: extra.timing } : {}),
  };
}

/** The envelope as the file holds it: two-space JSON and a final newline. */
export function envelopeJson(value: ResultsEnvelope<unknown>): string {
  return JSON.stringify(value, null, 2) + '\n';
}
