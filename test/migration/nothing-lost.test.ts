import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SAFE_PRECOPY_RULES, type PrecopySafetyRules } from '../../src/migration/safety-rules.js';
import { StreamError } from '../../src/migration/stream.js';
import { hog, idle } from '../../src/guest/workloads.js';
import { migrate } from '../../src/sim/migrate.js';
import type { Vm } from '../../src/sim/vm.js';
import type { HintBatch } from '../../src/virtio/balloon/balloon-device.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination, lostPages, MiB, usedDestination } from './support.js';

const combos = ['none', 'zero', 'zero+zero-skip', 'zero+hint', 'hint', 'zero-skip+hint', 'zero+zero-skip+hint', 'zero+report', 'zero+hint+report'];

interface Scenario {
  seed: number;
  strategies: string;
  warmupMs: number;
  bandwidth: number;
  downtimeLimitMs: number;
  used: boolean;
  /** The device serves the free page queue a step late, like QEMU's iothread. */
  lazy: boolean;
  workload: 'compile' | 'hog' | 'idle';
}

/** Small versions of the workloads (the busy guest's build is the default). */
const WORKLOADS = {
  compile: undefined,
  hog: () => hog({ workingSetBytes: 6 * MiB, dirtyBytesPerSec: 64 * MiB }),
  idle: () => idle({ residentBytes: 4 * MiB, bootChurnBytes: 4 * MiB, dirtyBytesPerSec: 8 * MiB, zeroedFraction: 0.2 }),
};

/** Scenario knobs that change how guest steps, hints and syncs interleave with sending. */
const scenario: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 20 }),
  strategies: fc.constantFrom(...combos),
  warmupMs: fc.integer({ min: 0, max: 60 }),
  // Slower links mean more guest steps per round: more writes, more hints, more rounds.
  bandwidth: fc.constantFrom(1e8, 4e8, 1e9),
  downtimeLimitMs: fc.constantFrom(5, 50, 300),
  used: fc.boolean(),
  lazy: fc.boolean(),
  workload: fc.constantFrom('compile' as const, 'hog' as const, 'idle' as const),
});

const BALLOON = { statsQueue: true, deflateOnOom: true, mustTellHost: true, freePageHint: true };

function run(s: Scenario, rules?: PrecopySafetyRules) {
  const report = s.strategies.includes('report');
  const make = WORKLOADS[s.workload];
  const vm = busyGuest(s.seed, { lazyHintQueue: s.lazy, balloon: { ...BALLOON, pageReporting: report }, ...(make ? { workload: make() } : {}) });
  // Free page reporting runs every 2 s of guest time: let it report before the migration.
  vm.run(s.warmupMs + (report ? 2100 : 0));
  const destination = s.used ? usedDestination() : freshDestination(s.seed);
  const m = migrate(vm, destination, { strategies: s.strategies, cost: { bandwidth: s.bandwidth }, downtimeLimitMs: s.downtimeLimitMs, maxRounds: 8, ...(rules ? { rules } : {}) });
  return { vm, destination, m };
}

function nothingLost(rules?: PrecopySafetyRules) {
  return fc.property(scenario, (s) => {
    const { vm, destination, m } = run(s, rules);
    expect(m.error, 'the migration failed').toBeUndefined();
    expect(m.result.status).toBe('completed');
    expect(lostPages(vm, destination), 'pages in use at pause that differ at the destination').toEqual([]);
    // Accounting: pages on the wire add up.
    expect(m.received!.pages).toBe(m.result.normalPages);
    expect(m.received!.zeroPages).toBe(m.result.zeroPages);
    expect(m.result.bytes).toBeGreaterThanOrEqual(m.result.normalPages * 4096);
    // The guest runs on at the destination, finds every page it wrote intact, and gets back
    // the pages it held for hinting (the destination device reads DONE).
    vm.switchOver(destination.memory, m.received!.devices);
    vm.resume();
    vm.run(10);
    vm.settle();
    expect(vm.kernel.verify(), 'pages the guest finds damaged at the destination').toEqual([]);
    expect(vm.driver.heldPages, 'pages still held for hinting at the destination').toBe(0);
  });
}

describe('I1: nothing lost', () => {
  // 30 runs in two slices from their own seeds, so that no single test runs for long.
  it.each([1, 2])('every page in use at pause arrives intact, for every strategy and interleaving (slice %i)', (slice) => {
    fc.assert(nothingLost(), { numRuns: Math.ceil(runs(30) / 2), seed: 12_000 + slice });
  });

  it('catches hints applied after the sync that closed their round', () => {
    const stashed: HintBatch[] = [];
    const late: PrecopySafetyRules = {
      ...SAFE_PRECOPY_RULES,
      onHint: (batch) => void stashed.push(batch),
      afterSync: (window) => {
        for (const b of stashed.splice(0)) window.clear(b);
      },
    };
    const result = fc.check(nothingLost(late), {
      numRuns: 30,
      seed: 1,
      endOnFailure: true,
      examples: [[{ seed: 7, strategies: 'zero+hint', warmupMs: 0, bandwidth: 1e8, downtimeLimitMs: 300, used: false, lazy: false, workload: 'compile' }]],
    });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/pages in use at pause that differ at the destination/);
  });

  it('catches zero pages skipped on a destination that is not known to be zero', () => {
    const careless: PrecopySafetyRules = { ...SAFE_PRECOPY_RULES, maySkipZero: (round) => round === 1 };
    const result = fc.check(nothingLost(careless), {
      numRuns: 30,
      seed: 2,
      endOnFailure: true,
      examples: [[{ seed: 3, strategies: 'zero+zero-skip', warmupMs: 0, bandwidth: 1e9, downtimeLimitMs: 300, used: true, lazy: false, workload: 'compile' }]],
    });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/pages in use at pause that differ at the destination/);
  });
});

describe('H5: DONE on every ending', () => {
  // An idle guest, so that no memory pressure makes the shrinker return the blocks instead.
  const idleGuest = (): Vm => busyGuest(5, { workload: idle() });

  it('a cancelled migration gives the guest its hinted memory back', () => {
    const vm = idleGuest();
    const m = migrate(vm, freshDestination(5), { strategies: 'zero+hint', cost: { bandwidth: 2e8 }, cancelAfterMs: 20 });
    expect(m.result.status).toBe('cancelled');
    expect(m.error).toBeInstanceOf(StreamError);
    expect((m.error as StreamError).kind).toBe('truncated');
    expect(vm.driver.heldPages).toBeGreaterThan(0); // it did hint before the cancel
    vm.settle();
    expect(vm.driver.heldPages).toBe(0);
  });

  it('catches an engine that does not send DONE on cancel', () => {
    const vm = idleGuest();
    migrate(vm, freshDestination(5), { strategies: 'zero+hint', cost: { bandwidth: 2e8 }, cancelAfterMs: 20, rules: { ...SAFE_PRECOPY_RULES, cleanup: () => undefined } });
    vm.settle();
    expect(vm.driver.heldPages).toBeGreaterThan(0);
  });
});
