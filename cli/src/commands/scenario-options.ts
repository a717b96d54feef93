/** The options every scenario-running command shares, and the grid of scenarios they describe. */
import { type Command, Option } from 'commander';
import { checkScenario, FREE_POLICIES, HOST_NAMES, parseSize, WORKLOADS, type Scenario } from 'freehint';
import { parseList } from '../input/lists.js';
import { parseSeed } from '../input/numbers.js';
import type { Shard } from '../input/shard.js';

/** Options of every command that runs migrations and writes results. */
export interface OutputOptions {
  readonly json?: boolean;
  readonly out: string;
  readonly progress?: boolean;
  readonly timing?: boolean;
  readonly jobs?: string;
  /** The part of the grid these runs are (`--shard i/n`, parsed once the grid is known). */
  readonly part?: Shard;
}

/** Options of the commands that run a grid of scenarios (compare, sweep). */
export interface GridOptions extends OutputOptions {
  readonly seed?: string;
  /** `--shard i/n` as typed. */
  readonly shard?: string;
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

/** --out, --json, --timing and the progress switches. */
export function outputOptions(command: Command): Command {
  return command
    .option('--out <dir>', 'where to write results (checked before the run)', 'out')
    .option('--json', 'print the results as JSON only (progress stays on stderr)')
    .option('--timing', 'add this machine’s wall time per run to the JSON (it then differs between runs of the same seed)')
    .option('--jobs <n>', 'runs at once, on worker threads (default: one per core); the results are the same for any number')
    .addOption(new Option('--progress', 'show a progress bar on stderr even when it is not a terminal (default: a bar on a terminal, else a line per run)'))
    .addOption(new Option('--no-progress', 'show no progress'));
}

/** The options that describe the scenarios of a grid. */
export function scenarioOptions(command: Command): Command {
  return outputOptions(
    command
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
      .option('--shard <i/n>', 'run only part i of n of the grid (consecutive scenarios), e.g. one part per machine; `freehint merge` joins the parts'),
  );
}

/**
 * Every scenario of the grid the options describe (sizes × workloads × free-time policies),
 * each checked in full before any of them runs.
 */
export function gridScenarios(options: GridOptions, sizesText: string): Scenario[] {
  const sizes = parseList(
    sizesText,
    'guest sizes',
    (s) => ({ text: s, bytes: parseSize(s, 'guest size') }),
    (s) => s.bytes,
  ).map((s) => s.text);
  const workloads = parseList(options.workloads, 'workloads', (w) => w);
  const policies = parseList(options.freePolicies, 'free-time policies', (p) => p);
  const strategies =
    options.strategies === undefined
      ? undefined
      : parseList(
          options.strategies,
          'strategies',
          (s) => s,
          (s) =>
            s
              .split('+')
              .map((p) => p.trim())
              .sort()
              .join('+'),
        ).join(',');
  const seed = options.seed === undefined ? undefined : parseSeed(options.seed);
  return sizes.flatMap((guest) =>
    workloads.flatMap((workload) =>
      policies.map((freePolicy) =>
        checkScenario({
          guest,
          workload,
          freePolicy,
          ...(strategies !== undefined ? { strategies } : {}),
          ...(options.bandwidth !== undefined ? { bandwidth: options.bandwidth } : {}),
          ...(options.host !== undefined ? { host: options.host } : {}),
          ...(options.vcpus !== undefined ? { vcpus: options.vcpus } : {}),
          ...(options.downtime !== undefined ? { downtimeLimitMs: options.downtime } : {}),
          ...(options.warmup !== undefined ? { warmupMs: options.warmup } : {}),
          ...(options.initOnAlloc !== undefined ? { initOnAlloc: options.initOnAlloc } : {}),
          ...(seed !== undefined ? { seed } : {}),
        }),
      ),
    ),
  );
}
