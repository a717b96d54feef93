/** A scenario file read and checked: JSON, an object, known keys only. */
import { readFileSync } from 'node:fs';
import { PUBLISHED_SETUP } from 'freehint';
import { didYouMean } from '../suggest.js';
import { UsageError, fsReason } from '../usage-error.js';

/** The keys a scenario file may hold: the scenario's own, and `guest` as a size such as 8G. */
export const SCENARIO_KEYS: readonly string[] = ['guest', ...Object.keys(PUBLISHED_SETUP)];

/**
 * A scenario file's content as plain data, before the core checks its values: JSON (a UTF-8
 * byte order mark, as some editors on Windows write, is tolerated), an object, only known
 * keys (a typo gets a suggestion), and strategies each given once.
 */
export function readScenarioFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`scenario file '${file}': ${fsReason(error)}`);
  }
  let input: unknown;
  try {
    input = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new UsageError(`scenario file '${file}': not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new UsageError(`scenario file '${file}': expected a JSON object such as {"guest": "8G", "workload": "idle"}`);
  const scenario = input as Record<string, unknown>;
  for (const key of Object.keys(scenario)) {
    if (!SCENARIO_KEYS.includes(key)) throw new UsageError(`scenario file '${file}': unknown key '${key}'${didYouMean(key, SCENARIO_KEYS)}; the keys are ${SCENARIO_KEYS.join(', ')}`);
  }
  const strategies = scenario['strategies'];
  const list = typeof strategies === 'string' ? strategies.split(',').map((s) => s.trim()) : strategies;
  if (Array.isArray(list)) {
    const twice = list.find((s: unknown, i) => list.indexOf(s) !== i);
    if (twice !== undefined) throw new UsageError(`scenario file '${file}': strategy '${String(twice)}' is given twice`);
  }
  return scenario;
}
