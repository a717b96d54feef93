import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hog, idle, type Workload } from '../../src/guest/workloads.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { countPatternPages } from '../../src/memory/described-pages.js';
import { MigrationError } from '../../src/migration/errors.js';
import type { PostcopySafetyRules } from '../../src/migration/safety-rules.js';
import { SAFE_PRECOPY_RULES, type PrecopySafetyRules } from '../../src/migration/safety-rules.js';
import { StreamReader } from '../../src/migration/stream.js';
import { StrategyError } from '../../src/migration/strategies.js';
import { migratePostcopy } from '../../src/sim/postcopy-migrate.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination, MiB } from './support.js';

/** A guest that keeps allocating and writing pages: memory pressure, then the shrinker takes hinted blocks back. */
function grower(pagesPerMs: number): Workload {
  return {
    name: 'grower',
    boot() {},
    step(kernel, ms) {
      for (let i = 0; i < pagesPerMs * ms; i++) {
        const pfn = kernel.allocPages(0);
        if (pfn === undefined) return;
        kernel.writePage(pfn);
      }
    },
  };
}

/** `base`, and at `atMs` of guest time a burst that takes every free page (and what the shrinker gives back). */
function pressureAt(atMs: number, base: Workload): Workload {
  let elapsed = 0;
  let done = false;
  return {
    name: 'pressure',
    boot: (kernel) => base.boot(kernel),
    step(kernel, ms) {
      base.step(kernel, ms);
      elapsed += ms;
      if (done || elapsed < atMs) return;
      done = true;
      for (let pfn = kernel.allocPages(0); pfn !== undefined; pfn = kernel.allocPages(0)) kernel.writePage(pfn);
    },
  };
}

const WORKLOADS = {
  compile: undefined,
  hog: () => hog({ workingSetBytes: 6 * MiB, dirtyBytesPerSec: 64 * MiB }),
  idle: () => idle({ residentBytes: 4 * MiB, bootChurnBytes: 4 * MiB, dirtyBytesPerSec: 8 * MiB, zeroedFraction: 0.2 }),
  grow: () => grower(96),
};

interface Case {
  seed: number;
  workload: keyof typeof WORKLOADS;
  hugePageBytes: number;
  preempt: boolean;
  precopyRounds: number;
  hint: boolean;
  bandwidth: number;
  linkLatencyMs: number;
  downtimeLimitMs: number;
}

const cases: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 1, max: 1 << 20 }),
  workload: fc.constantFrom('compile' as const, 'hog' as const, 'idle' as const, 'grow' as const),
  hugePageBytes: fc.constantFrom(4096, 64 << 10, 2 << 20),
  preempt: fc.boolean(),
  precopyRounds: fc.integer({ min: 1, max: 3 }),
  hint: fc.boolean(),
  // Slower links: more guest steps per round and per fault, so more faults and preemptions.
  bandwidth: fc.constantFrom(2e8, 1e9),
  linkLatencyMs: fc.constantFrom(0.01, 0.2),
  // A tight limit keeps precopy from converging: every round is run, pages move between rounds.
  downtimeLimitMs: fc.constantFrom(1, 300),
});

function run(c: Case, rules?: PrecopySafetyRules, postcopyRules?: PostcopySafetyRules) {
  const make = WORKLOADS[c.workload];
  const vm = busyGuest(c.seed, make ? { workload: make() } : {});
  vm.run(5);
  const destination = freshDestination(c.seed);
  const outcome = migratePostcopy(vm, destination, {
    strategies: c.hint ? 'zero+hint' : 'zero',
    hintPolicy: 'local-zero',
    precopyRounds: c.precopyRounds,
    hugePageBytes: c.hugePageBytes,
    preempt: c.preempt,
    linkLatencyMs: c.linkLatencyMs,
    downtimeLimitMs: c.downtimeLimitMs,
    cost: { bandwidth: c.bandwidth },
    ...(rules ? { rules } : {}),
    ...(postcopyRules ? { postcopyRules } : {}),
  });
  return { vm, outcome };
}

/**
 * I5 + I1 under postcopy: the guest runs on at the destination while pages arrive; every page
 * it faults on comes with the right content (its own checks pass), no huge page is split across
 * channels or arrives twice, and the migration ends with everything there.
 */
function postcopyLosesNothing(rules?: PrecopySafetyRules, postcopyRules?: PostcopySafetyRules) {
  return fc.property(cases, (c) => {
    const { vm, outcome } = run(c, rules, postcopyRules);
    expect(outcome.error).toBeUndefined();
    expect(outcome.status).toBe('completed');
    expect(outcome.violations, outcome.violations.join('; ')).toEqual([]);
    expect(vm.kernel.verify()).toEqual([]);
  });
}

describe('postcopy', () => {
  it('the guest runs on at the destination and finds every page it uses intact', () => {
    fc.assert(postcopyLosesNothing(), { numRuns: runs(200) });
  });

  it('catches a postcopy channel that sends the rest of a huge page the precopy channel had started', () => {
    const result = fc.check(postcopyLosesNothing(undefined, { requestForInFlight: () => 'send-rest' }), { numRuns: 200, seed: 5 });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/split across channels/);
  });

  it('catches a zero page given for a hinted page that was written after its hint', () => {
    // During the first round, after the hints, the guest needs all its memory: the shrinker
    // hands the hinted blocks back and the guest writes them; the second round resends them (H1).
    const scenario = (rules?: PrecopySafetyRules) => {
      const vm = busyGuest(9, { workload: pressureAt(12, WORKLOADS.idle()) });
      vm.run(5);
      const outcome = migratePostcopy(vm, freshDestination(9), {
        strategies: 'zero+hint',
        hintPolicy: 'local-zero',
        precopyRounds: 2,
        downtimeLimitMs: 1,
        hugePageBytes: 64 << 10,
        cost: { bandwidth: 5e8 },
        ...(rules ? { rules } : {}),
      });
      return { outcome, wrong: vm.kernel.verify() };
    };
    const safe = scenario();
    expect(safe.outcome.status).toBe('completed');
    expect(safe.outcome.precopy.hintedPages).toBeGreaterThan(0);
    expect(safe.wrong).toEqual([]);
    const broken = scenario({ ...SAFE_PRECOPY_RULES, forgetWritten: () => undefined });
    expect(broken.wrong.length).toBeGreaterThan(0);
  });

  it("with the 'refuse' policy, hinting and postcopy are rejected with a clear error", () => {
    const vm = busyGuest(1);
    expect(() => migratePostcopy(vm, freshDestination(1), { strategies: 'zero+hint', precopyRounds: 1, hintPolicy: 'refuse' })).toThrow(StrategyError);
    expect(() => migratePostcopy(vm, freshDestination(1), { strategies: 'zero+hint', precopyRounds: 1 })).toThrow(/'hint' cannot be combined with postcopy/);
  });

  it("with the 'local-zero' policy, faults on hinted-clean pages never cross the network", () => {
    let local = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.constantFrom(64 << 10, 2 << 20), (seed, hugePageBytes) => {
        // Slow enough that hinted blocks stay clean until DONE; then it allocates them at the destination.
        const vm = busyGuest(seed, { workload: grower(8) });
        vm.run(5);
        // Every page either channel carries after the switchover, by pfn.
        const sent = new Set<number>();
        const readers = { precopy: new StreamReader(note), postcopy: new StreamReader(note) };
        function note(r: Parameters<ConstructorParameters<typeof StreamReader>[0]>[0]): void {
          if (r.type === 'HEADER' || r.type === 'DEVICE' || r.type === 'ROUND' || r.type === 'END') return;
          const count = r.type === 'PAGE' ? 1 : r.type === 'PATTERN' ? countPatternPages(r.runs) : r.count;
          for (let i = 0; i < count; i++) sent.add(r.gpa / PAGE_SIZE + i);
        }
        const outcome = migratePostcopy(vm, freshDestination(seed), {
          strategies: 'zero+hint',
          hintPolicy: 'local-zero',
          precopyRounds: 1,
          hugePageBytes,
          runOnMs: 400,
          tamper: (channel, chunk) => (readers[channel].push(chunk), chunk),
        });
        expect(outcome.status).toBe('completed');
        const clean = outcome.precopy.handOff!.hintedClean;
        for (const pfn of sent) expect(clean.has(pfn) && hugeAllClean(clean, pfn, hugePageBytes)).toBe(false);
        local += outcome.postcopy!.resolvedLocally;
        expect(vm.kernel.verify()).toEqual([]);
      }),
      { numRuns: runs(20) },
    );
    // And it happens: hinted pages do get faulted on and resolved at the destination.
    expect(local).toBeGreaterThan(0);
  });

  it('a channel that breaks after the switchover is a postcopy failure, and no missing page reads as anything', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.nat(40), fc.constantFrom('precopy' as const, 'postcopy' as const), (seed, at, broken) => {
        const vm = busyGuest(seed, { workload: WORKLOADS.hog() });
        vm.run(5);
        const outcome = migratePostcopy(vm, freshDestination(seed), {
          strategies: 'zero',
          precopyRounds: 1,
          tamper: (channel, chunk, index) => (channel === broken && index >= at ? undefined : chunk),
        });
        if (outcome.status === 'completed') {
          expect(vm.kernel.verify()).toEqual([]);
          return;
        }
        expect(outcome.error).toBeInstanceOf(MigrationError);
        expect((outcome.error as MigrationError).kind).toBe('postcopy-failed');
        // The guest is stopped; any read of a page that never came fails instead of returning zeros.
        expect(() => vm.kernel.verify()).toThrow(MigrationError);
      }),
      { numRuns: runs(30) },
    );
  });
});

function hugeAllClean(clean: { has(pfn: number): boolean }, pfn: number, hugePageBytes: number): boolean {
  const per = hugePageBytes / PAGE_SIZE;
  const first = Math.floor(pfn / per) * per;
  for (let p = first; p < first + per; p++) if (!clean.has(p)) return false;
  return true;
}
