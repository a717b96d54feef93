/** `freehint run <scenario.json>`: the strategies of one scenario file. */
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { checkScenario } from 'freehint';
import { parseSeed } from '../input/numbers.js';
import { readScenarioFile } from '../input/scenario-file.js';
import { comparisonChart } from '../report/plots.js';
import { runAndReport } from './grid.js';
import { outputOptions, type OutputOptions } from './scenario-options.js';

export function runCommand(cli: Command): void {
  outputOptions(
    cli
      .command('run <scenario>')
      .description('run the strategies of a scenario file (JSON: guest, workload, workloadParams, freePolicy, strategies, overlayMode, bandwidth, host, vcpus, downtimeLimitMs, warmupMs, initOnAlloc, seed)')
      .option('--seed <n>', 'override the scenario’s seed'),
  ).action(async (file: string, options: OutputOptions & { seed?: string }) => {
    const input = readScenarioFile(file);
    const scenario = checkScenario(options.seed === undefined ? input : { ...input, seed: parseSeed(options.seed) });
    const name = `${basename(file, extname(file))}-results`;
    await runAndReport({ command: 'run', name, chart: comparisonChart, csv: false, title: `freehint: ${basename(file)}` }, [scenario], options);
  });
}
