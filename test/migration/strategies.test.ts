import { describe, expect, it } from 'vitest';
import { DEFAULT_COST_MODEL, SimClock } from '../../src/migration/cost-model.js';
import { StrategyError, strategySet } from '../../src/migration/strategies.js';

describe('strategy sets', () => {
  it('parse names joined by +, or a list, ignoring blanks and spaces', () => {
    expect(strategySet(' zero + hint ')).toEqual({ names: ['zero', 'hint'], detectZero: true, skipZeroInFirstRound: false, hint: true, report: false });
    expect(strategySet(['zero-skip', '', 'report'])).toEqual({ names: ['zero-skip', 'report'], detectZero: true, skipZeroInFirstRound: true, hint: false, report: true });
    expect(strategySet('none')).toEqual({ names: ['none'], detectZero: false, skipZeroInFirstRound: false, hint: false, report: false });
    expect(strategySet('hint')).toMatchObject({ detectZero: false, hint: true });
  });

  it('name what is wrong, as a StrategyError', () => {
    const error = (names: string | string[], options?: { postcopy?: boolean }): StrategyError => {
      try {
        strategySet(names, options);
      } catch (e) {
        expect(e).toBeInstanceOf(StrategyError);
        expect((e as Error).name).toBe('StrategyError');
        return e as StrategyError;
      }
      throw new Error(`'${String(names)}' was accepted`);
    };
    expect(error('zero+zip').message).toBe("unknown strategy 'zip': expected none, zero, zero-skip, hint, report (combine with +)");
    expect(error('').message).toBe('no strategy given');
    expect(error(' + ').message).toBe('no strategy given');
    expect(error('none+zero+hint').message).toBe("'none' sends every page whole and cannot be combined with zero, hint");
    expect(error('zero+none').message).toMatch(/cannot be combined with zero$/);
    expect(error('zero+hint', { postcopy: true }).message).toMatch(/^'hint' cannot be combined with postcopy/);
    expect(strategySet('zero', { postcopy: true }).hint).toBe(false);
  });
});

describe('the simulated clock', () => {
  /** A clock whose guest steps take `stepMs`; returns it and the number of steps run. */
  function clock(stepMs: number, cost = DEFAULT_COST_MODEL) {
    const steps = { count: 0 };
    const c = new SimClock(cost, () => (steps.count++, stepMs));
    return { c, steps };
  }

  it('charges sends at the bandwidth, and the guest runs in that time', () => {
    const { c, steps } = clock(1, { ...DEFAULT_COST_MODEL, bandwidth: 1e6 });
    c.send(3000); // 3 ms at 1 MB/s
    expect(c.nowMs).toBe(3);
    expect(steps.count).toBe(3);
    expect(c.sendMs(500)).toBe(0.5);
    expect(c.nowMs).toBe(3); // asking costs nothing
  });

  it('a guest step that covers the time owed exactly leaves no debt', () => {
    const { c, steps } = clock(2);
    c.charge(2);
    expect(steps.count).toBe(1);
    c.charge(2);
    expect(steps.count).toBe(2);
    c.charge(0.5); // a step longer than the charge runs once and is owed back
    c.charge(1);
    expect(steps.count).toBe(3);
  });

  it('charges a sync as a fixed cost plus a cost per GiB', () => {
    const { c } = clock(1, { ...DEFAULT_COST_MODEL, syncFixedMs: 0.5, syncPerGiBMs: 2 });
    c.sync(4 * 2 ** 30);
    expect(c.nowMs).toBe(8.5);
  });

  it('charges hints per range in microseconds', () => {
    const { c } = clock(1, { ...DEFAULT_COST_MODEL, hintRangeUs: 4 });
    c.hint(250);
    expect(c.nowMs).toBe(1);
  });

  it('charges from inside a guest step only add to the time owed', () => {
    const steps: number[] = [];
    let c!: SimClock;
    c = new SimClock(DEFAULT_COST_MODEL, () => {
      steps.push(c.nowMs);
      if (steps.length === 1) c.charge(1); // e.g. a hint arriving during the step
      return 1;
    });
    c.charge(1);
    expect(c.nowMs).toBe(2);
    expect(steps).toEqual([1, 2]);
  });

  it('scans at the scan rate', () => {
    const { c } = clock(1, { ...DEFAULT_COST_MODEL, scanRate: 2e6 });
    expect(c.scanMs(4000)).toBe(2);
  });
});
