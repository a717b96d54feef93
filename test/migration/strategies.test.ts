import { describe, expect, it } from 'vitest';
import { DEFAULT_COST_MODEL, SimClock, TransferMeter } from '../../src/migration/cost-model.js';
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
});

describe("QEMU's transfer counters", () => {
  it('give each period of 100 ms a window of max-bandwidth × 100 ms, counted from the bytes at its start', () => {
    const meter = new TransferMeter(1e6); // 100,000 bytes a window
    expect(meter.windowBytes).toBe(100_000);
    expect(meter.room(0)).toBe(100_000);
    expect(meter.room(60_000)).toBe(40_000);
    // The last send may overshoot, as QEMU checks before each page.
    expect(meter.room(105_000)).toBe(-5000);
    expect(meter.waitMs(40)).toBe(60);
    expect(meter.waitMs(140)).toBe(0);
  });

  it('measure the bandwidth of a period once it is 100 ms old, and start the next one then, not on a fixed grid', () => {
    const meter = new TransferMeter(1e6);
    meter.update(99, 100_000);
    expect(meter.bytesPerMs).toBe(0); // no whole period yet: QEMU's threshold is 0 until one ends
    // The thread was busy until 130 ms: the period 0–130 carried 100,000 bytes, and the next runs from 130.
    meter.update(130, 100_000);
    expect(meter.bytesPerMs).toBeCloseTo(100_000 / 130, 12);
    expect(meter.room(100_000)).toBe(100_000);
    expect(meter.waitMs(229)).toBe(1);
    meter.update(229, 150_000);
    expect(meter.bytesPerMs).toBeCloseTo(100_000 / 130, 12);
    meter.update(230, 150_000);
    expect(meter.bytesPerMs).toBe(500);
  });

  it('without a limit, the window never fills', () => {
    expect(new TransferMeter(Number.POSITIVE_INFINITY).room(1e15)).toBe(Number.POSITIVE_INFINITY);
  });
});
