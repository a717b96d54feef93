#!/usr/bin/env node
/**
 * The freehint command line: compare migration strategies on simulated guests (the default),
 * run a scenario file, sweep a grid of scenarios, or watch a balloon session.
 */
import { readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { Command, CommanderError, Option } from 'commander';
import { lastValueFrom, tap, toArray, filter, map } from 'rxjs';
import { writeFileAtomic } from './report/files.js';
import { comparisonChart, renderSvg, sweepChart } from './report/plots.js';
import { postcopyTable, resultsCsv, resultsTable } from './report/table.js';
import {
  checkScenario,
  compareScenarios,
  comparePostcopy,
  FREE_POLICIES,
  HOST_NAMES,
  parseSize,
  runBalloonDemo,
  ScenarioError,
  withReductions,
  WORKLOADS,
  type CompareEvent,
  type Scenario,
  type StrategyResult,
} from 'freehint';

/** Options shared by the commands that run scenarios. */
interface RunOptions {
  readonly seed?: string;
  readonly json?: boolean;
  readonly out: string;
  readonly progress?: boolean;
}

interface GridOptions extends RunOptions {
  readonly guest?: string;
  readonly sizes?: string;
  readonly workloads: string;
  readonly freePolicies: string;
  readonly strategies?: string;
  readonly bandwidth?: string;
  readonly host?: string;
  readonly vcpus?: string;
  readonly downtime?: string;
  readonly warmup?: string;
  readonly initOnAlloc?: boolean;
}

const list = (text: string): string[] =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);

/** Every scenario of the grid the options describe (sizes × workloads × free-time policies). */
function grid(options: GridOptions, sizes: readonly string[]): Scenario[] {
  return sizes.flatMap((guest) =>
    list(options.workloads).flatMap((workload) =>
      list(options.freePolicies).map((freePolicy) =>
        checkScenario({
          guest,
          workload,
          freePolicy,
          ...(options.strategies !== undefined ? { strategies: options.strategies } : {}),
          ...(options.bandwidth !== undefined ? { bandwidth: options.bandwidth } : {}),
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...(options.vcpus !== undefined ? { vcpus: options.vcpus } : {}),
          ...(options.downtime !== undefined ? { downtimeLimitMs: options.downtime } : {}),
          ...(options.warmup !== undefined ? { warmupMs: options.warmup } : {}),
          ...(options.initOnAlloc !== undefined ? { initOnAlloc: options.initOnAlloc } : {}),
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
        }),
      ),
    ),
  );
}

/** Run scenarios, with a progress bar on stderr when asked (or when stderr is a terminal). */
async function run(scenarios: readonly Scenario[], options: RunOptions): Promise<StrategyResult[]> {
  const showBar = options.progress ?? Boolean(process.stderr.isTTY && !options.json);
  const bar = new SingleBar({
    stream: process.stderr,
    noTTYOutput: true,
    notTTYSchedule: 1000,
    format: ' {bar} {value}/{total} runs | {what}',
    hideCursor: true,
  });
  const runs = scenarios.reduce((n, s) => n + s.strategies.length, 0);
  if (showBar) bar.start(runs, 0, { what: 'booting' });
  const describe = (e: CompareEvent): string => {
    if (e.kind === 'result') return `${e.result.workload} ${e.result.guestBytes / 2 ** 30} GiB ${e.result.strategy}: done`;
    return `${e.scenario.workload} ${e.scenario.guestBytes / 2 ** 30} GiB ${e.progress.strategy}: round ${e.progress.round}, ${e.progress.remainingPages} pages left`;
  };
  try {
    const results = await lastValueFrom(
      compareScenarios(scenarios).pipe(
        tap((e) => showBar && bar.update(e.kind === 'result' ? e.run + 1 : e.run, { what: describe(e) })),
        filter((e): e is Extract<CompareEvent, { kind: 'result' }> => e.kind === 'result'),
        map((e) => e.result),
        toArray(),
      ),
    );
    return withReductions(results);
  } finally {
    if (showBar) bar.stop();
  }
}

/** Print results (a table, or JSON only) and write them to `out` as JSON, SVG and maybe CSV. */
async function report(results: readonly StrategyResult[], options: RunOptions, name: string, chart: typeof comparisonChart, csv = false): Promise<void> {
  // Render everything first, so that a failure writes nothing.
  const json = JSON.stringify(results, null, 2) + '\n';
  const svg = await renderSvg(chart(results));
  writeFileAtomic(join(options.out, `${name}.json`), json);
  writeFileAtomic(join(options.out, `${name}.svg`), svg);
  if (csv) writeFileAtomic(join(options.out, `${name}.csv`), resultsCsv(results));
  if (options.json) {
    process.stdout.write(json);
    return;
  }
  console.log(resultsTable(results));
  const over = results.filter((r) => r.verified && !r.downtimeLimitMet);
  if (over.length > 0)
    console.log(
      `\n(over): the guest stopped for longer than the downtime limit (${over.map((r) => `${r.workload} ${r.strategy}`).join(', ')}): the rest did not fit it when the switchover came (the round limit forced it, or the guest wrote more than the estimate allowed for).`,
    );
  const unverified = results.filter((r) => !r.verified);
  console.log(unverified.length === 0 ? `\nEvery destination verified: each page the guest uses arrived intact.` : `\n${unverified.length} run(s) did NOT verify.`);
  console.log(`Wrote ${[name + '.json', name + '.svg', ...(csv ? [name + '.csv'] : [])].map((f) => join(options.out, f)).join(', ')}`);
  if (unverified.length > 0) process.exitCode = 1;
}

function scenarioOptions(command: Command): Command {
  return command
    .option('--workloads <list>', `workloads, comma-separated (${WORKLOADS.join(', ')})`, 'idle,compile')
    .option('--free-policies <list>', `what the guest does with freed pages (${FREE_POLICIES.join(', ')})`, 'none')
    .option('--strategies <list>', 'strategy combinations, comma-separated (default: none, zero, zero+zero-skip, zero+hint, zero+hint+zero-skip, zero+report)')
    .option('--bandwidth <size>', 'QEMU’s max-bandwidth in bytes per second, e.g. 128M, or unlimited (default: unlimited, as the published runs)')
    .option('--host <profile>', `host profile (${HOST_NAMES.join(', ')}; default kvm-xeon-2018)`)
    .option('--vcpus <n>', 'vCPUs of the guest (default 1)')
    .option('--downtime <ms>', 'downtime limit in ms (default 2000)')
    .option('--warmup <ms>', 'simulated ms the guest runs before the migration (default 3000)')
    .addOption(new Option('--init-on-alloc', 'guest zeroes pages on allocation (off by default, as in the published runs)'))
    .option('--seed <n>', 'seed of the guest and its workload (default 1)')
    .option('--out <dir>', 'where to write results', 'out')
    .option('--json', 'print the results as JSON only')
    .addOption(new Option('--progress', 'show a progress bar on stderr even when it is not a terminal'));
}

export function program(): Command {
  const cli = new Command('freehint')
    .description('Compare live-migration strategies (zero pages, free page hints, free page reporting) on simulated Linux guests with a virtio-balloon device')
    .showSuggestionAfterError()
    .exitOverride();

  scenarioOptions(
    cli
      .command('compare', { isDefault: true })
      .description('run the strategies side by side on 8 GiB idle and compile guests (the published setup); writes compare.json and compare.svg')
      .option('--guest <size>', 'guest RAM, e.g. 512M, 8G, 1T', '8G'),
  ).action(async (options: GridOptions) => {
    await report(await run(grid(options, [options.guest ?? '8G']), options), options, 'compare', comparisonChart);
  });

  cli
    .command('run <scenario>')
    .description('run the strategies of a scenario file (JSON: guest, workload, workloadParams, freePolicy, strategies, overlayMode, bandwidth, host, vcpus, downtimeLimitMs, warmupMs, initOnAlloc, seed)')
    .option('--seed <n>', 'override the scenario’s seed')
    .option('--out <dir>', 'where to write results', 'out')
    .option('--json', 'print the results as JSON only')
    .addOption(new Option('--progress', 'show a progress bar on stderr even when it is not a terminal'))
    .action(async (file: string, options: RunOptions) => {
      let input: unknown;
      try {
        input = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        // A file that cannot be read (a Node.js system error) or is not JSON (a SyntaxError).
        throw new ScenarioError(`scenario file '${file}': ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      if (options.seed !== undefined && typeof input === 'object' && input !== null) input = { ...input, seed: options.seed };
      const scenario = checkScenario(input);
      await report(await run([scenario], options), options, `${basename(file, extname(file))}-results`, comparisonChart);
    });

  scenarioOptions(
    cli
      .command('sweep')
      .description('run a grid of guest sizes × workloads × free-time policies × strategies; writes sweep.csv, sweep.json and sweep.svg (reduction against guest size)')
      .option('--sizes <list>', 'guest sizes, comma-separated', '1G,2G,4G,8G,16G,32G,64G'),
  ).action(async (options: GridOptions) => {
    const scenarios = grid({ ...options, strategies: options.strategies ?? 'zero,zero+zero-skip,zero+hint' }, list(options.sizes ?? ''));
    await report(await run(scenarios, { ...options, progress: options.progress ?? !options.json }), options, 'sweep', sweepChart, true);
  });

  cli
    .command('postcopy')
    .description('a busy guest that precopy cannot converge on, four ways: precopy, postcopy without and with preemption, and with hints (local-zero); writes postcopy.json')
    .option('--guest <size>', 'guest RAM', '8G')
    .option('--working-set <size>', 'the hog workload’s working set', '2G')
    .option('--dirty-rate <size>', 'bytes per second it rewrites', '2G')
    .option('--rounds <n>', 'precopy rounds before the switch to postcopy', '2')
    .option('--huge-page <size>', 'host huge page size', '2M')
    .option('--seed <n>', 'seed of the guest (default 1)')
    .option('--out <dir>', 'where to write results', 'out')
    .option('--json', 'print the results as JSON only')
    .action((options: { guest: string; workingSet: string; dirtyRate: string; rounds: string; hugePage: string; seed?: string; out: string; json?: boolean }) => {
      const scenario = checkScenario({
        guest: options.guest,
        workload: 'hog',
        workloadParams: { workingSetBytes: options.workingSet, dirtyBytesPerSec: options.dirtyRate },
        warmupMs: 100,
        downtimeLimitMs: 300,
        ...(options.seed !== undefined ? { seed: options.seed } : {}),
      });
      const rounds = Number(options.rounds);
      if (!Number.isInteger(rounds) || rounds < 1) throw new ScenarioError(`precopy rounds '${options.rounds}': expected a whole number ≥ 1`);
      const results = comparePostcopy(scenario, { precopyRounds: rounds, hugePageBytes: parseSize(options.hugePage, 'huge page size') });
      const json = JSON.stringify(results, null, 2) + '\n';
      writeFileAtomic(join(options.out, 'postcopy.json'), json);
      if (options.json) {
        process.stdout.write(json);
        return;
      }
      console.log(postcopyTable(results));
      console.log(`\nWrote ${join(options.out, 'postcopy.json')}`);
      if (results.some((r) => !r.verified)) process.exitCode = 1;
    });

  cli
    .command('demo')
    .description('a balloon session on a simulated idle 8 GiB guest: probe, a free page hint round, inflate, deflate, stats')
    .option('--seed <n>', 'seed of the guest', '1')
    .action((options: { seed: string }) => {
      for (const line of runBalloonDemo(Number(options.seed))) console.log(line);
    });
  return cli;
}

/** Run the command line; bad arguments print one line and exit with code 2. */
export async function main(argv: readonly string[]): Promise<void> {
  try {
    await program().parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander already printed its message (or the help).
      process.exitCode = error.exitCode === 0 ? 0 : 2;
    } else if (error instanceof ScenarioError) {
      console.error(`freehint: ${error.message}`);
      process.exitCode = 2;
    } else {
      console.error(`freehint: ${error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
  }
}

void main(process.argv.slice(2));
