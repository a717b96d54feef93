import { parse, View } from 'vega';
import { compile } from 'vega-lite';
import { describe, expect, it } from 'vitest';
import type { StrategyResult } from 'freehint';
import { comparisonCharts } from '../src/compare/charts.js';

// The comparison page's charts compile and run in Vega, headless, without a warning: a spec that
// only fails in the browser (a duplicate selection signal, a shared colour scale) fails here.
const result = (strategy: string, simulatedMs: number, reductionVsZero?: number): StrategyResult => ({
  strategy,
  workload: 'idle',
  guestBytes: 2 ** 30,
  freePolicy: 'none',
  seed: 1,
  status: 'completed',
  verified: true,
  simulatedMs,
  downtimeMs: 40,
  downtimeLimitMet: true,
  syncs: 3,
  bytes: 90 << 20,
  rounds: 2,
  pagesSent: 22_000,
  zeroPages: 3_000,
  hintedPages: strategy.includes('hint') ? 230_000 : 0,
  skippedZeroPages: 0,
  ...(reductionVsZero !== undefined ? { reductionVsZero } : {}),
  wallMs: 1,
});

describe('the comparison charts', () => {
  it('compile and render with a selection shared by the three views and a scale per colour', async () => {
    const warnings: string[] = [];
    const logger = { level: () => logger, error: (...m: unknown[]) => warnings.push(m.join(' ')), warn: (...m: unknown[]) => warnings.push(m.join(' ')), info: () => logger, debug: () => logger };
    const spec = compile(comparisonCharts([result('zero', 860, 0), result('zero+hint', 150, -0.83), result('zero+report', 290, -0.66)], 2000), { logger: logger as never }).spec;
    expect(warnings).toEqual([]);
    const view = new View(parse(spec), { renderer: 'none' });
    try {
      const svg = await view.toSVG();
      expect(svg).toContain('−83%');
      expect(svg).toContain('hinted (not sent)');
      // The click selection's store exists, empty until a click (Vega throws for a dataset it does not know).
      expect(view.data('pick_store')).toEqual([]);
    } finally {
      view.finalize();
    }
  });
});
