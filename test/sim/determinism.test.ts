import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { Destination } from '../../src/migration/destination.js';
import { prepareGuest } from '../../src/sim/compare.js';
import { migrate } from '../../src/sim/migrate.js';
import { checkScenario, costOf } from '../../src/sim/scenario.js';

// I7 under the concurrent model: a rate-limited thread, a driver that pays for its hints in
// guest time and shares two cores with the thread, hints that wait for the bitmap lock — the
// same scenario and seed still give the same migration, byte for byte.

function streamHash(seed: number, bandwidth: string | number): { hash: string; totalMs: number; hintedPages: number } {
  const scenario = checkScenario({
    guest: '256M',
    host: 'tcg-2core',
    workload: 'written-then-freed',
    workloadParams: { writtenBytes: '32M', residentBytes: '16M', bootChurnBytes: 0, dirtyBytesPerSec: '1M' },
    // With init_on_alloc a fast first pass outruns the hints; without it they arrive in time.
    initOnAlloc: bandwidth !== 'unlimited',
    bandwidth,
    warmupMs: 50,
    seed,
  });
  const vm = prepareGuest(scenario, 'zero+hint');
  const hash = createHash('sha256');
  const m = migrate(vm, new Destination(new CompactMemory({ regions: scenario.guestBytes, patternSeed: seed })), {
    strategies: 'zero+hint',
    cost: costOf(scenario),
    host: vm.host,
    downtimeLimitMs: scenario.downtimeLimitMs,
    tamper: (chunk) => (hash.update(chunk), chunk),
  });
  expect(m.error).toBeUndefined();
  return { hash: hash.digest('hex'), totalMs: m.result.totalMs, hintedPages: m.result.hintedPages };
}

describe('I7 with the concurrent model', () => {
  for (const bandwidth of ['32M', 'unlimited']) {
    it(`the same seed gives the same stream, another seed another one (bandwidth ${bandwidth})`, () => {
      const a = streamHash(3, bandwidth);
      expect(streamHash(3, bandwidth)).toEqual(a);
      expect(a.hintedPages).toBeGreaterThan(0);
      expect(streamHash(4, bandwidth).hash).not.toBe(a.hash);
    });
  }
});
