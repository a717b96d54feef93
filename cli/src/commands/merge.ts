/**
 * `freehint merge`: the parts of a grid that ran apart (`--shard i/n`, on one machine or
 * several) put back together, reported as one run of the whole grid would have been.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkScenario, type Scenario } from 'freehint';
import type { Shard } from '../input/shard.js';
import { RESULTS_FORMAT_VERSION, type Timing } from '../report/envelope.js';
import { jobsOf, type RunResult } from '../runs.js';
import { UsageError, fsReason } from '../usage-error.js';
import { VERSION } from '../version.js';
import { COMPARE_REPORT, SWEEP_REPORT } from './grid.js';
import { reportRuns, type ReportKind } from './report-runs.js';
import type { OutputOptions } from './scenario-options.js';

const REPORTS: Readonly<Record<string, ReportKind>> = { compare: COMPARE_REPORT, sweep: SWEEP_REPORT };

/** One part as its file holds it, checked. */
interface Part {
  readonly file: string;
  readonly command: string;
  readonly seed: number;
  readonly shard: Shard;
  readonly scenarios: readonly Scenario[];
  readonly results: readonly RunResult[];
  readonly timing: Timing | undefined;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isWhole = (value: unknown): value is number => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/** A part's file: the results envelope of a `--shard` run of this version, whole and consistent. */
function readPart(file: string): Part {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`part '${file}': ${fsReason(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`part '${file}': not valid JSON`);
  }
  const bad = (why: string): UsageError => new UsageError(`part '${file}': ${why}`);
  if (!isObject(value) || value['format'] !== 'freehint-results') throw bad('not a freehint results file');
  if (value['formatVersion'] !== RESULTS_FORMAT_VERSION) throw bad(`results format ${String(value['formatVersion'])}, this version reads ${RESULTS_FORMAT_VERSION}`);
  const tool = value['tool'];
  if (!isObject(tool) || tool['version'] !== VERSION) throw bad(`written by freehint ${isObject(tool) ? String(tool['version']) : '?'}, this is ${VERSION}: run every part with one version`);
  const command = value['command'];
  if (typeof command !== 'string' || REPORTS[command] === undefined) throw bad(`results of '${String(command)}'; merge takes parts of compare or sweep`);
  const shard = value['shard'];
  if (!isObject(shard) || !isWhole(shard['index']) || !isWhole(shard['count']) || !isWhole(shard['scenarios'])) throw bad('not a part (run with --shard i/n)');
  const seed = value['seed'];
  if (!isWhole(seed)) throw bad('no seed');
  const scenarios = value['scenarios'];
  const results = value['results'];
  if (!Array.isArray(scenarios) || !Array.isArray(results)) throw bad('no scenarios or no results');
  let checked: Scenario[];
  try {
    checked = scenarios.map((s: unknown) => checkScenario(s));
  } catch (error) {
    throw bad(`a scenario does not check: ${error instanceof Error ? error.message : String(error)}`);
  }
  // Each result must be the run its place says: that strategy on that scenario.
  const jobs = jobsOf(checked);
  if (results.length !== jobs.length) throw bad(`${results.length} results for ${jobs.length} runs`);
  for (const [i, r] of results.entries()) {
    const job = jobs[i]!;
    if (!isObject(r) || r['strategy'] !== job.strategy || r['workload'] !== job.scenario.workload || r['guestBytes'] !== job.scenario.guestBytes) throw bad(`result ${i + 1} is not ${job.strategy} on its scenario`);
  }
  const timing = value['timing'];
  return {
    file,
    command,
    seed,
    shard: { index: shard['index'], count: shard['count'], scenarios: shard['scenarios'] },
    scenarios: checked,
    results: results as RunResult[],
    timing: isObject(timing) && Array.isArray(timing['runs']) ? (timing as unknown as Timing) : undefined,
  };
}

/** The parts, each once, of one grid: same command, seed and number of parts; in order. */
function assembleParts(parts: readonly Part[]): { command: string; scenarios: Scenario[]; results: RunResult[]; wallMs: number[] | undefined } {
  const first = parts[0];
  if (first === undefined) throw new UsageError('merge: no parts given');
  for (const p of parts) {
    if (p.command !== first.command || p.seed !== first.seed || p.shard.count !== first.shard.count || p.shard.scenarios !== first.shard.scenarios) {
      throw new UsageError(`part '${p.file}' is not of the same grid as '${first.file}' (command, seed or parts differ)`);
    }
  }
  const ordered = [...parts].sort((a, b) => a.shard.index - b.shard.index);
  for (const [i, p] of ordered.entries()) {
    if (p.shard.index < i + 1) throw new UsageError(`merge: part ${p.shard.index}/${first.shard.count} is given twice`);
    if (p.shard.index > i + 1) throw new UsageError(`merge: part ${i + 1}/${first.shard.count} is missing`);
  }
  if (ordered.length !== first.shard.count) throw new UsageError(`merge: ${ordered.length} of ${first.shard.count} parts given`);
  const scenarios = ordered.flatMap((p) => p.scenarios);
  if (scenarios.length !== first.shard.scenarios) throw new UsageError(`merge: the parts hold ${scenarios.length} scenarios, the grid has ${first.shard.scenarios}`);
  const timed = ordered.every((p) => p.timing !== undefined);
  return {
    command: first.command,
    scenarios,
    results: ordered.flatMap((p) => p.results),
    wallMs: timed ? ordered.flatMap((p) => p.timing!.runs.map((r) => r.wallMs)) : undefined,
  };
}

export function mergeCommand(cli: Command): void {
  cli
    .command('merge <parts...>')
    .description('put back together the parts of a compare or sweep run with --shard i/n (their JSON files, in any order); writes what one run of the whole grid writes, with wall times if every part has them')
    .option('--out <dir>', 'where to write the merged results', 'out')
    .option('--json', 'print the merged results as JSON only')
    .action(async (files: string[], options: OutputOptions) => {
      const merged = assembleParts(files.map(readPart));
      const report = REPORTS[merged.command]!;
      const outcome = { results: merged.results, wallMs: merged.wallMs ?? [] };
      await reportRuns(report, merged.scenarios, jobsOf(merged.scenarios), outcome, { ...options, timing: merged.wallMs !== undefined });
    });
}
