import { describe, expect, it } from 'vitest';
import { DEFAULT_COST_MODEL, RateLimiter, SimClock } from '../../src/migration/cost-model.js';
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

  it('a round moves a whole page at the thread’s pace, or the rate limit’s when that is slower', () => {
    // 4096 B read at 4.096 MB/s (1 ms) and 4104 B sent at 4.104 MB/s (1 ms): 2 ms a page.
    const unlimited = clock(1, { ...DEFAULT_COST_MODEL, scanRate: 4.096e6, bandwidth: 4.104e6 }).c;
    expect(unlimited.roundPageMs()).toBeCloseTo(2, 12);
    // A limit of 1.026 MB/s lets a whole page through every 4 ms: slower than the thread.
    const limited = clock(1, { ...DEFAULT_COST_MODEL, scanRate: 4.096e6, bandwidth: 4.104e6, maxBandwidth: 1.026e6 }).c;
    expect(limited.roundPageMs()).toBeCloseTo(4, 12);
  });
});

describe("QEMU's rate limiter", () => {
  it('lets a window’s bytes through, then makes the thread wait for the window’s end', () => {
    const limiter = new RateLimiter(1e6); // 100,000 bytes a window of 100 ms
    expect(limiter.windowBytes).toBe(100_000);
    expect(limiter.room(0)).toBe(100_000);
    limiter.add(60_000);
    expect(limiter.room(30)).toBe(40_000);
    limiter.add(45_000); // the last send may overshoot, as QEMU checks before each page
    expect(limiter.room(40)).toBe(-5000);
    expect(limiter.waitMs(40)).toBe(60);
  });

  it('opens a new window at the first check after the last one ended, not on a fixed grid', () => {
    const limiter = new RateLimiter(1e6);
    limiter.add(100_000);
    // The thread was busy until 130 ms: the new window runs from 130 to 230.
    expect(limiter.room(130)).toBe(100_000);
    limiter.add(100_000);
    expect(limiter.room(229)).toBe(0);
    expect(limiter.waitMs(229)).toBe(1);
    expect(limiter.room(230)).toBe(100_000);
  });
});
