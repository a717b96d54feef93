/** `freehint postcopy`: a busy guest migrated four ways, precopy against postcopy variants. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { checkScenario, comparePostcopy, type PostcopyVariantResult } from 'freehint';
import { parseHugePage, parseSeed, parseWhole } from '../input/numbers.js';
import { checkOutputDir } from '../input/out-dir.js';
import { progressFor } from '../progress.js';
import { envelope, envelopeJson } from '../report/envelope.js';
import { writeFilesAtomic } from '../report/files.js';
import { htmlReport } from '../report/html.js';
import { postcopyChart, renderSvg } from '../report/plots.js';
import { postcopyCells, postcopyTable } from '../report/table.js';
import { guestSize } from '../format.js';
import { VERSION } from '../version.js';
import { outputOptions, type OutputOptions } from './scenario-options.js';

interface PostcopyOptions extends OutputOptions {
  readonly guest: string;
  readonly workingSet: string;
  readonly dirtyRate: string;
  readonly rounds: string;
  readonly hugePage: string;
  readonly seed?: string;
}

export function postcopyCommand(cli: Command): void {
  outputOptions(
    cli
      .command('postcopy')
      .description('a busy guest that precopy cannot converge on, four ways: precopy, postcopy without and with preemption, and with hints (local-zero); writes postcopy.json, postcopy.svg and postcopy.html')
      .option('--guest <size>', 'guest RAM', '8G')
      .option('--working-set <size>', 'the hog workload’s working set', '2G')
      .option('--dirty-rate <size>', 'bytes per second it rewrites', '2G')
      .option('--rounds <n>', 'precopy rounds before the switch to postcopy (1 to 30)', '2')
      .option('--huge-page <size>', 'host huge page size, a power of two from 4K to 1G', '2M')
      .option('--seed <n>', 'seed of the guest (default 1)'),
  ).action(async (options: PostcopyOptions) => {
    const scenario = checkScenario({
      guest: options.guest,
      workload: 'hog',
      workloadParams: { workingSetBytes: options.workingSet, dirtyBytesPerSec: options.dirtyRate },
      warmupMs: 100,
      downtimeLimitMs: 300,
      ...(options.seed !== undefined ? { seed: parseSeed(options.seed) } : {}),
    });
    const precopyRounds = parseWhole(options.rounds, 'precopy rounds', 1, 30);
    const hugePageBytes = parseHugePage(options.hugePage, scenario.guestBytes);
    checkOutputDir(options.out);

    const progress = progressFor(options.progress, 'postcopy', 4);
    // When each variant ended, after the start: wall times for --timing.
    const marks = [performance.now()];
    let results: PostcopyVariantResult[];
    try {
      results = comparePostcopy(scenario, {
        precopyRounds,
        hugePageBytes,
        onVariantDone: (done, total, variant) => {
          marks.push(performance.now());
          progress.onRunDone(done, total, variant);
        },
      });
    } finally {
      progress.stop();
    }
    const timing = options.timing ? { runs: results.map((r, i) => ({ label: r.variant, wallMs: (marks[i + 1] ?? 0) - (marks[i] ?? 0) })) } : undefined;
    const json = envelopeJson(envelope('postcopy', [scenario], results, { options: { precopyRounds, hugePageBytes }, ...(timing ? { timing } : {}) }));
    const svg = await renderSvg(postcopyChart(results));
    const html = htmlReport({
      title: 'freehint: precopy and postcopy on a busy guest',
      facts: [
        ['command', 'freehint postcopy'],
        ['version', VERSION],
        ['seed', String(scenario.seed)],
        ['setup', `${guestSize(scenario.guestBytes)} guest, working set ${options.workingSet} rewritten at ${options.dirtyRate}/s, ${precopyRounds} precopy rounds, huge pages of ${options.hugePage}`],
      ],
      table: postcopyCells(results),
      charts: [svg],
      notes: [results.every((r) => r.verified) ? 'Every destination verified.' : 'Some destinations did NOT verify.'],
    });
    writeFilesAtomic(options.out, { 'postcopy.json': json, 'postcopy.svg': svg, 'postcopy.html': html });
    if (results.some((r) => !r.verified)) process.exitCode = 1;
    if (options.json) {
      process.stdout.write(json);
      return;
    }
    console.log(postcopyTable(results));
    console.log(`\nWrote ${['postcopy.json', 'postcopy.svg', 'postcopy.html'].map((f) => join(options.out, f)).join(', ')}`);
  });
}
