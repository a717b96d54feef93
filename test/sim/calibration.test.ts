import { describe, expect, it } from 'vitest';
import { runStrategy, withReductions, type StrategyResult } from '../../src/sim/compare.js';
import { checkScenario } from '../../src/sim/scenario.js';

/**
 * The published figures of the virtio-balloon free page hint series (v34 cover letter): an
 * 8 GiB guest, downtime limit 2 s, legacy (zero detection) against hinting.
 */
const PUBLISHED = {
  idle: { legacyMs: 1757, hintMs: 284 },
  compile: { legacyMs: 2528, hintMs: 1402 },
} as const;

function results(workload: string, strategies: readonly string[], extra: object = {}): Map<string, StrategyResult> {
  const scenario = checkScenario({ workload, strategies, ...extra });
  const all = withReductions(strategies.map((s) => runStrategy(scenario, s)));
  for (const r of all) expect(r.verified, `${workload} ${r.strategy}: ${r.problem ?? ''}`).toBe(true);
  return new Map(all.map((r) => [r.strategy, r]));
}

describe('calibration against the published results', () => {
  for (const workload of ['idle', 'compile'] as const) {
    it(`${workload} 8 GiB guest: hinting's reduction against zero detection is within 10 points of the published one`, () => {
      const published = PUBLISHED[workload].hintMs / PUBLISHED[workload].legacyMs - 1;
      const r = results(workload, ['zero', 'zero+hint']);
      const reduction = r.get('zero+hint')!.reductionVsZero!;
      expect(Math.abs(reduction - published)).toBeLessThanOrEqual(0.1);
    });
  }
});

/** How much of the way from sending every page whole to hinting zero detection gets. */
function gapClosedByZero(r: Map<string, StrategyResult>): number {
  const none = r.get('none')!.simulatedMs;
  return (none - r.get('zero')!.simulatedMs) / (none - r.get('zero+hint')!.simulatedMs);
}

describe('what the guest does with freed pages decides what zero detection can do', () => {
  const strategies = ['none', 'zero', 'zero+hint'];
  const guest = { guest: '2G', workload: 'compile' };
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

  it('with zero-on-free, zero detection closes most of the gap to hinting, more than with stale free pages', () => {
    expect(gapClosedByZero(byPolicy.zero)).toBeGreaterThan(0.7);
    expect(gapClosedByZero(byPolicy.zero)).toBeGreaterThan(gapClosedByZero(byPolicy.none));
    // Stale data left in freed pages is what zero detection has to send whole without it.
    expect(byPolicy.zero.get('zero')!.pagesSent).toBeLessThan(byPolicy.none.get('zero')!.pagesSent);
    expect(gapClosedByZero(byPolicy.none)).toBeGreaterThan(gapClosedByZero(byPolicy.poison));
  });
});
