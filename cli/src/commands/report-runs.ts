/** What a run writes and prints: the JSON envelope, the chart, the HTML page, CSV, the table. */
import { join } from 'node:path';
import type { Scenario } from 'freehint';
import { envelope, envelopeJson } from '../report/envelope.js';
import { writeFilesAtomic } from '../report/files.js';
import { htmlReport } from '../report/html.js';
import { type comparisonChart, renderSvg, type sweepChart } from '../report/plots.js';
import { resultsCells, resultsCsv, resultsTable } from '../report/table.js';
import { VERSION } from '../version.js';
import type { RunJob, RunOutcome } from '../runs.js';
import { labelOf } from '../runs.js';
import type { OutputOptions } from './scenario-options.js';

/** How a command's results are named and drawn. */
export interface ReportKind {
  readonly command: string;
  /** Base name of the files: compare → compare.json, compare.svg, compare.html. */
  readonly name: string;
  readonly chart: typeof comparisonChart | typeof sweepChart;
  readonly csv: boolean;
  readonly title: string;
}

function describeSetup(scenarios: readonly Scenario[]): string {
  const s = scenarios[0];
  if (s === undefined) return '';
  const bandwidth = s.bandwidth === 'unlimited' ? 'no bandwidth cap' : `max-bandwidth ${s.bandwidth / 2 ** 20} MiB/s`;
  return `host ${s.host}, ${bandwidth}, downtime limit ${s.downtimeLimitMs} ms, ${s.vcpus} vCPU, warm-up ${s.warmupMs} ms, init_on_alloc ${s.initOnAlloc ? 'on' : 'off'}`;
}

/**
 * Print the results (a table, or JSON only) and write them to `out`: the JSON envelope, the
 * chart as SVG, one self-contained HTML page, and CSV for a sweep. Everything is rendered
 * before anything is written, and the files are written all or none.
 */
export async function reportRuns(kind: ReportKind, scenarios: readonly Scenario[], jobs: readonly RunJob[], outcome: RunOutcome, options: OutputOptions): Promise<void> {
  const { results } = outcome;
  const timing = options.timing ? { runs: jobs.map((job, i) => ({ label: labelOf(job), wallMs: outcome.wallMs[i] ?? 0 })) } : undefined;
  const shard = options.part;
  const json = envelopeJson(envelope(kind.command, scenarios, results, { ...(timing ? { timing } : {}), ...(shard ? { shard } : {}) }));
  const svg = await renderSvg(kind.chart(results));
  const over = results.filter((r) => r.verified && !r.downtimeLimitMet);
  const unverified = results.filter((r) => !r.verified);
  const notes = [
    ...(over.length > 0
      ? [
          `(over): the guest stopped for longer than the downtime limit (${over.map((r) => `${r.workload} ${r.strategy}`).join(', ')}): the rest did not fit it when the switchover came (the round limit forced it, or the guest wrote more than the estimate allowed for).`,
        ]
      : []),
    unverified.length === 0 ? 'Every destination verified: each page the guest uses arrived intact.' : `${unverified.length} run(s) did NOT verify.`,
  ];
  const html = htmlReport({
    title: kind.title,
    facts: [
      ['command', `freehint ${kind.command}`],
      ['version', VERSION],
      ['seed', String(scenarios[0]?.seed ?? '')],
      ...(shard ? ([['part', `${shard.index} of ${shard.count}`]] as Array<[string, string]>) : []),
      ['setup', describeSetup(scenarios)],
    ],
    table: resultsCells(results),
    charts: [svg],
    notes,
  });
  // A part's files say which part they are, so that parts gathered in one place do not clash.
  const name = shard ? `${kind.name}-part-${shard.index}-of-${shard.count}` : kind.name;
  const files: Record<string, string> = { [`${name}.json`]: json, [`${name}.svg`]: svg, [`${name}.html`]: html };
  if (kind.csv) files[`${name}.csv`] = resultsCsv(results);
  writeFilesAtomic(options.out, files);
  if (unverified.length > 0) process.exitCode = 1;
  if (options.json) {
    process.stdout.write(json);
    return;
  }
  console.log(resultsTable(results));
  for (const note of notes) console.log(`\n${note}`);
  console.log(
    `Wrote ${Object.keys(files)
      .map((f) => join(options.out, f))
      .join(', ')}`,
  );
}
