/** The comparison's and the sweep's charts: Vega-Lite specs rendered to SVG. */
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { StrategyResult } from 'freehint';

/** Render a Vega-Lite spec to a standalone SVG document, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const FONT = { config: { font: 'Helvetica, Arial, sans-serif' } };

/** Simulated migration time per strategy, one panel per workload, the reduction on each bar. */
export function comparisonChart(results: readonly StrategyResult[]): TopLevelSpec {
  const data = results.map((r) => ({
    workload: `${r.workload} ${r.guestBytes / 2 ** 30} GiB, free: ${r.freePolicy}`,
    strategy: r.strategy,
    seconds: r.simulatedMs / 1000,
    label: r.reductionVsZero === undefined || r.strategy === 'zero' ? '' : `${r.reductionVsZero > 0 ? '+' : ''}${(r.reductionVsZero * 100).toFixed(0)}%`,
  }));
  const order = [...new Set(results.map((r) => r.strategy))];
  const panels = [...new Set(data.map((d) => d.workload))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Simulated live migration time by strategy (label: change against zero detection)',
    data: { values: data },
    facet: { column: { field: 'workload', type: 'nominal', title: null, sort: panels } },
    spec: {
      width: 320,
      height: 220,
      encoding: {
        y: { field: 'strategy', type: 'nominal', sort: order, title: null },
        x: { field: 'seconds', type: 'quantitative', title: 'simulated migration time (s)' },
      },
      layer: [{ mark: { type: 'bar', color: '#4c78a8' } }, { mark: { type: 'text', align: 'left', dx: 3 }, encoding: { text: { field: 'label', type: 'nominal' } } }],
    },
    ...FONT,
  };
}

/** Reduction against zero detection by guest size, a line per strategy, a panel per workload. */
export function sweepChart(results: readonly StrategyResult[]): TopLevelSpec {
  const data = results
    .filter((r) => r.reductionVsZero !== undefined && r.strategy !== 'zero')
    .map((r) => ({ workload: r.workload, free: r.freePolicy, strategy: r.strategy, gib: r.guestBytes / 2 ** 30, reduction: (r.reductionVsZero ?? 0) * 100 }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Migration time against zero detection, by guest size',
    data: { values: data },
    facet: { column: { field: 'workload', type: 'nominal', title: null } },
    spec: {
      width: 300,
      height: 220,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'gib', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'guest RAM (GiB)' },
        y: { field: 'reduction', type: 'quantitative', title: 'change in migration time (%)' },
        color: { field: 'strategy', type: 'nominal' },
        strokeDash: { field: 'free', type: 'nominal', title: 'free pages' },
      },
    },
    ...FONT,
  };
}
