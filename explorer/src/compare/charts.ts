/**
 * The comparison's charts as one Vega-Lite spec: migration time and downtime per strategy, and
 * where every page of the guest went. Clicking a strategy picks it out in all three views.
 */
import type { StrategyResult } from 'freehint';
import type { TopLevelSpec } from 'vega-lite';

/** Distinct colours per strategy, the same in every chart (Tableau 10). */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

const KINDS = ['sent whole', 'zero (header only)', 'hinted (not sent)', 'zero, skipped'] as const;
const KIND_COLOURS = ['#4e79a7', '#bab0ac', '#59a14f', '#d4e6cc'];

function changeLabel(r: StrategyResult): string {
  if (r.strategy === 'zero') return 'base';
  if (r.reductionVsZero === undefined) return '';
  const percent = Math.round(r.reductionVsZero * 100);
  return percent === 0 ? '±0%' : `${percent > 0 ? '+' : '−'}${Math.abs(percent)}%`;
}

export function comparisonCharts(results: readonly StrategyResult[], downtimeLimitMs: number): TopLevelSpec {
  const strategies = results.map((r) => r.strategy);
  const rows = results.map((r) => ({
    strategy: r.strategy,
    seconds: r.simulatedMs / 1000,
    change: changeLabel(r),
    downtimeMs: r.downtimeMs,
    sentMiB: Math.round(r.bytes / 2 ** 20),
    rounds: r.rounds,
    [KINDS[0]]: r.pagesSent,
    [KINDS[1]]: r.zeroPages,
    [KINDS[2]]: r.hintedPages,
    [KINDS[3]]: r.skippedZeroPages,
  }));
  const strategyAxis = { field: 'strategy', type: 'nominal', sort: strategies, title: null } as const;
  const colour = { field: 'strategy', type: 'nominal', sort: strategies, scale: { range: PALETTE }, legend: null } as const;
  const picked = { condition: { param: 'pick', value: 1 }, value: 0.25 } as const;
  const width = 300;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values: rows },
    // The strategy colours and the page-kind colours are two scales, not one shared by the views.
    resolve: { scale: { color: 'independent' } },
    params: [{ name: 'pick', select: { type: 'point', fields: ['strategy'] }, views: ['timeBars', 'downtimeBars', 'pages'] }],
    config: { font: 'system-ui, sans-serif', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 13, anchor: 'start' } },
    vconcat: [
      {
        hconcat: [
          {
            title: 'Simulated migration time (label: change against zero detection)',
            width,
            height: { step: 22 },
            encoding: {
              y: strategyAxis,
              x: { field: 'seconds', type: 'quantitative', title: 'migration time (s)' },
              tooltip: [{ field: 'strategy' }, { field: 'seconds', title: 'time (s)', format: '.3f' }, { field: 'change', title: 'vs zero' }, { field: 'rounds' }, { field: 'sentMiB', title: 'sent (MiB)', format: ',' }],
            },
            layer: [
              { name: 'timeBars', mark: { type: 'bar', cursor: 'pointer' }, encoding: { color: colour, opacity: picked } },
              { mark: { type: 'text', align: 'left', dx: 4 }, encoding: { text: { field: 'change' } } },
            ],
          },
          {
            title: `Downtime (rule: the ${downtimeLimitMs} ms limit)`,
            width: 220,
            height: { step: 22 },
            layer: [
              {
                name: 'downtimeBars',
                mark: { type: 'bar', cursor: 'pointer' },
                encoding: {
                  y: strategyAxis,
                  x: { field: 'downtimeMs', type: 'quantitative', title: 'guest stopped (ms)' },
                  color: colour,
                  opacity: picked,
                  tooltip: [{ field: 'strategy' }, { field: 'downtimeMs', title: 'downtime (ms)', format: '.1f' }],
                },
              },
              { mark: { type: 'rule', color: '#e15759', strokeDash: [4, 3] }, data: { values: [{ limit: downtimeLimitMs }] }, encoding: { x: { field: 'limit', type: 'quantitative' } } },
            ],
          },
        ],
      },
      {
        name: 'pages',
        title: 'Where the guest’s pages went (bulk and later rounds together)',
        width: width + 220 + 110,
        height: { step: 22 },
        transform: [
          { fold: [...KINDS], as: ['kind', 'pages'] },
          { calculate: `indexof(${JSON.stringify(KINDS)}, datum.kind)`, as: 'kindOrder' },
        ],
        mark: { type: 'bar', cursor: 'pointer' },
        encoding: {
          y: strategyAxis,
          x: { field: 'pages', type: 'quantitative', stack: 'zero', title: '4 KiB pages', axis: { format: '~s' } },
          color: { field: 'kind', type: 'nominal', sort: [...KINDS], scale: { domain: [...KINDS], range: KIND_COLOURS }, legend: { orient: 'bottom', title: null } },
          order: { field: 'kindOrder', type: 'quantitative' },
          opacity: picked,
          tooltip: [{ field: 'strategy' }, { field: 'kind' }, { field: 'pages', format: ',' }],
        },
      },
    ],
  };
}
