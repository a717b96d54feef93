import { describe, expect, it } from 'vitest';
import { changeInterval, publishedTable, qemuTable } from '../../calibration/reference.js';
import { calibrate, ordering } from '../../src/sim/calibration.js';
import { runStrategy, withReductions, type StrategyResult } from '../../src/sim/compare.js';
import { checkScenario } from '../../src/sim/scenario.js';

// Each row: the model, on the table's host profile, orders hints against legacy as the
// reference does (faster, slower, or within 3%) and changes the time by as much, within the
// table's tolerance. One set of constants per host; nothing here is tuned per row.
for (const t of [publishedTable('published-v34.json'), publishedTable('published-v37.json'), qemuTable()]) {
  describe(`calibration against ${t.name} (${t.host})`, () => {
    for (const row of t.rows) {
      const bound = row.changeInterval === undefined ? `within ${t.tolerancePoints} points` : `within ${t.tolerancePoints} points or half its 90% interval`;
      it(`${row.label}: ${ordering(row.legacyMs, row.hintMs)} (${pct(row.hintMs / row.legacyMs - 1)}), ${bound}`, () => {
        const c = calibrate(t, row);
        expect(c.model.verified).toBe(true);
        expect(c.tolerancePoints).toBeGreaterThanOrEqual(t.tolerancePoints);
        // A measured row is held no closer than its own repetitions agree (see calibrate).
        if (row.changeInterval === undefined) expect(c.model.ordering).toBe(c.reference.ordering);
        expect(c.orderingRight).toBe(true);
        expect(Math.abs(c.model.change - c.reference.change) * 100).toBeLessThanOrEqual(c.tolerancePoints);
      });
    }
  });
}

const pct = (change: number): string => `${change >= 0 ? '+' : ''}${Math.round(change * 100)}%`;

describe('the precision of a measured row', () => {
  it('is the 90% interval of its change from its repetitions: narrow when they agree, wide when they spread', () => {
    const tight = changeInterval([100, 101, 99, 100, 100], [80, 81, 79, 80, 80]);
    expect(tight[0]).toBeGreaterThan(-0.23);
    expect(tight[1]).toBeLessThan(-0.17);
    const wide = changeInterval([100, 300, 150, 120, 250], [90, 400, 110, 300, 130]);
    expect(wide[1] - wide[0]).toBeGreaterThan(0.5);
    expect(changeInterval([100, 300, 150], [90, 400, 110])).toEqual(changeInterval([100, 300, 150], [90, 400, 110]));
  });
});

describe('the ordering of a pair of times', () => {
  it('is a tie within 3% either way, and otherwise says which is faster', () => {
    expect(ordering(1000, 969)).toBe('hints faster');
    expect(ordering(1000, 971)).toBe('within 3%');
    expect(ordering(1000, 1029)).toBe('within 3%');
    expect(ordering(1000, 1031)).toBe('hints slower');
  });
});

function results(workload: string, strategies: readonly string[], extra: object = {}): Map<string, StrategyResult> {
  const scenario = checkScenario({ workload, strategies, ...extra });
  const all = withReductions(strategies.map((s) => runStrategy(scenario, s)));
  for (const r of all) expect(r.verified, `${workload} ${r.strategy}: ${r.problem ?? ''}`).toBe(true);
  return new Map(all.map((r) => [r.strategy, r]));
}

/** How much of the way from sending every page whole to hinting zero detection gets. */
function gapClosedByZero(r: Map<string, StrategyResult>): number {
  const none = r.get('none')!.simulatedMs;
  return (none - r.get('zero')!.simulatedMs) / (none - r.get('zero+hint')!.simulatedMs);
}

describe('what the guest does with freed pages decides what zero detection can do', () => {
  const strategies = ['none', 'zero', 'zero+hint'];
  // QEMU's default downtime limit: with the published 2 s, a 2 GiB guest fits at once and goes whole in the downtime.
  const guest = { guest: '2G', workload: 'compile', downtimeLimitMs: 300 };
  const byPolicy = {
    none: results(guest.workload, strategies, { ...guest, freePolicy: 'none' }),
    zero: results(guest.workload, strategies, { ...guest, freePolicy: 'zero' }),
    poison: results(guest.workload, strategies, { ...guest, freePolicy: 'poison' }),
  };

  it('with poisoned free pages, zero detection finds almost nothing in free memory while hinting still skips it', () => {
    const r = byPolicy.poison;
    expect(gapClosedByZero(r)).toBeLessThan(0.05);
    expect(r.get('zero')!.zeroPages).toBeLessThan(0.02 * r.get('zero')!.pagesSent);
    expect(r.get('zero+hint')!.hintedPages).toBeGreaterThan(10 * r.get('zero')!.zeroPages);
    expect(r.get('zero+hint')!.reductionVsZero!).toBeLessThan(byPolicy.none.get('zero+hint')!.reductionVsZero! - 0.1);
  });

  it('with zero-on-free, zero detection closes most of the gap to hinting, and sends fewer pages whole than with stale free pages', () => {
    expect(gapClosedByZero(byPolicy.zero)).toBeGreaterThan(0.7);
    // Stale data left in freed pages is what zero detection has to send whole without it.
    expect(byPolicy.zero.get('zero')!.pagesSent).toBeLessThan(byPolicy.none.get('zero')!.pagesSent);
    expect(gapClosedByZero(byPolicy.none)).toBeGreaterThan(gapClosedByZero(byPolicy.poison));
  });
});
