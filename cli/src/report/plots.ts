/** The comparison's and the sweep's charts: Vega-Lite specs rendered to SVG. */
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { guestSize, percentChange } from '../format.js';
import type { PostcopyVariantResult } from 'freehint';
import type { RunResult } from '../runs.js';

/** Render a Vega-Lite spec to a standalone SVG document, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const CONFIG = { config: { font: 'Helvetica, Arial, sans-serif', background: 'white' } };
/** Panels per row: two of ~330 px fit a README column and a laptop screen. */
const COLUMNS = 2;
/** Colour-blind safe (Tableau 10), with a shape each, so that series differ in print and in grey too. */
const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'triangle-right', 'triangle-left', 'wedge', 'stroke'];

/** Simulated migration time per strategy, one panel per scenario (wrapped), the change against zero on each bar. */
export function comparisonChart(results: readonly RunResult[]): TopLevelSpec {
  const data = results.map((r) => ({
    scenario: `${r.workload}, ${guestSize(r.guestBytes)}, free: ${r.freePolicy}`,
    strategy: r.strategy,
    seconds: r.simulatedMs / 1000,
    label: r.strategy === 'zero' ? 'base' : r.reductionVsZero === undefined ? '' : percentChange(r.reductionVsZero),
  }));
  const order = [...new Set(results.map((r) => r.strategy))];
  const panels = [...new Set(data.map((d) => d.scenario))];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Simulated live migration time by strategy', subtitle: 'label: change against zero-page detection (lower is better)' },
    data: { values: data },
    facet: { field: 'scenario', type: 'nominal', title: null, sort: panels, header: { labelFontSize: 12, labelFontWeight: 'bold' } },
    columns: Math.min(COLUMNS, panels.length),
    spec: {
      width: 300,
      height: 24 * order.length,
      encoding: {
        y: { field: 'strategy', type: 'nominal', sort: order, title: 'strategy' },
        x: { field: 'seconds', type: 'quantitative', title: 'simulated migration time (s)' },
      },
      layer: [
        { mark: { type: 'bar' }, encoding: { color: { field: 'strategy', type: 'nominal', sort: order, scale: { range: COLOURS }, legend: null } } },
        { mark: { type: 'text', align: 'left', dx: 3 }, encoding: { text: { field: 'label', type: 'nominal' } } },
      ],
    },
    ...CONFIG,
  };
}

/**
 * Change against zero detection by guest size: one line per strategy and free-time policy,
 * each with its own colour and point shape (one legend), one panel per workload (wrapped).
 */
export function sweepChart(results: readonly RunResult[]): TopLevelSpec {
  const policies = new Set(results.map((r) => r.freePolicy));
  const shown = results.filter((r) => r.reductionVsZero !== undefined && r.strategy !== 'zero');
  const series = (r: RunResult): string => (policies.size > 1 ? `${r.strategy}, free: ${r.freePolicy}` : r.strategy);
  const data = shown.map((r) => ({ workload: r.workload, series: series(r), gib: r.guestBytes / 2 ** 30, change: (r.reductionVsZero ?? 0) * 100 }));
  const names = [...new Set(data.map((d) => d.series))];
  const panels = [...new Set(data.map((d) => d.workload))];
  const scale = { domain: names };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Migration time against zero-page detection, by guest size', subtitle: 'below 0: faster than zero detection alone' },
    data: { values: data },
    facet: { field: 'workload', type: 'nominal', title: null, sort: panels, header: { labelFontSize: 12, labelFontWeight: 'bold' } },
    columns: Math.min(COLUMNS, panels.length),
    spec: {
      width: 300,
      height: 220,
      layer: [
        { mark: { type: 'rule', color: '#888', strokeDash: [2, 2] }, encoding: { y: { datum: 0, type: 'quantitative' } } },
        {
          mark: { type: 'line', point: { filled: true, size: 70 } },
          encoding: {
            x: { field: 'gib', type: 'quantitative', scale: { type: 'log', base: 2 }, axis: { values: [...new Set(data.map((d) => d.gib))] }, title: 'guest RAM (GiB, log scale)' },
            y: { field: 'change', type: 'quantitative', title: 'change in migration time (%)' },
            color: { field: 'series', type: 'nominal', title: 'strategy', scale: { ...scale, range: COLOURS }, legend: { labelLimit: 400 } },
            shape: { field: 'series', type: 'nominal', title: 'strategy', scale: { ...scale, range: SHAPES } },
          },
        },
      ],
    },
    ...CONFIG,
  };
}

/** Postcopy variants: total migration time, and the time the guest stood still, on one axis per panel. */
export function postcopyChart(results: readonly PostcopyVariantResult[]): TopLevelSpec {
  const order = results.map((r) => r.variant);
  const data = results.flatMap((r) => [
    { variant: r.variant, measure: 'migration time', seconds: r.totalMs / 1000, label: `${(r.totalMs / 1000).toFixed(2)} s` },
    { variant: r.variant, measure: 'guest stopped (downtime)', seconds: r.downtimeMs / 1000, label: `${r.downtimeMs.toFixed(0)} ms` },
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Precopy and postcopy on a busy guest', subtitle: 'simulated time; postcopy resumes the guest at once and pays in page faults' },
    data: { values: data },
    facet: { field: 'measure', type: 'nominal', title: null, sort: ['migration time', 'guest stopped (downtime)'], header: { labelFontSize: 12, labelFontWeight: 'bold' } },
    columns: 2,
    spec: {
      width: 220,
      height: 24 * order.length,
      encoding: {
        y: { field: 'variant', type: 'nominal', sort: order, title: null, axis: { labelLimit: 400 } },
        x: { field: 'seconds', type: 'quantitative', title: 'simulated time (s)' },
      },
      layer: [
        { mark: { type: 'bar' }, encoding: { color: { field: 'variant', type: 'nominal', sort: order, scale: { range: COLOURS }, legend: null } } },
        { mark: { type: 'text', align: 'left', dx: 3 }, encoding: { text: { field: 'label', type: 'nominal' } } },
      ],
    },
    resolve: { scale: { x: 'independent' } },
    ...CONFIG,
  };
}
