import { fc, test } from '@fast-check/vitest';
import { expect } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { WIRE_PAGE_BYTES, WIRE_ZERO_PAGE_BYTES, type CostModel } from '../../src/migration/cost-model.js';
import type { MigrationSource } from '../../src/migration/migration-source.js';
import { PrecopyMigration } from '../../src/migration/precopy.js';
import { strategySet } from '../../src/migration/strategies.js';
import { BalloonDevice } from '../../src/virtio/balloon/balloon-device.js';
import { runs } from '../support/runs.js';

// The concurrent model (a rate-limited migration thread beside running vCPUs) must agree with
// the plain sequential one where nothing runs concurrently: no bandwidth limit on the thread
// and a guest that does nothing. There a migration is one pass that reads every page and sends
// it, then a stop-and-copy with nothing left: three syncs, every page read once, every byte
// sent once, each cost added to the last.

/** A guest that does nothing; it may or may not say so (quietMs), which must not matter. */
class StillSource implements MigrationSource {
  readonly hints: BalloonDevice;
  readonly reportsFreePages = false;
  constructor(
    readonly memory: FlatMemory,
    readonly saysQuiet: boolean,
  ) {
    this.hints = new BalloonDevice(memory);
    if (saysQuiet) this.quietMs = (maxMs: number): number => maxMs;
  }
  quietMs?: (maxMs: number, fromPfn: number) => number;
  step(): number {
    return 1;
  }
  pause(): void {}
  resume(): void {}
  deviceStates(): Record<string, unknown> {
    return {};
  }
}

/** Page contents: 0 a zero page, else a page of random-looking bytes from that seed. */
const pagesArb = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 0xffff })), { minLength: 1, maxLength: 300 });
const costArb = fc.record({
  bandwidth: fc.double({ min: 1e6, max: 1e11, noNaN: true }),
  scanRate: fc.double({ min: 1e6, max: 1e11, noNaN: true }),
  syncFixedMs: fc.double({ min: 0, max: 5, noNaN: true }),
  syncPerGiBMs: fc.double({ min: 0, max: 5, noNaN: true }),
  // No limit, or one so high that no window ever fills.
  maxBandwidth: fc.constantFrom(Number.POSITIVE_INFINITY, 1e18),
  bitmapLock: fc.constantFrom('per-page' as const, 'per-iteration' as const),
  sinkThreads: fc.constantFrom(0, 1),
});

test.prop([pagesArb, costArb, fc.constantFrom('zero', 'none'), fc.boolean()], { numRuns: runs(100), seed: 17 })(
  'with no limit and a still guest, the concurrent model gives the sequential sum of costs',
  (pages, cost: CostModel, strategy, saysQuiet) => {
    const memory = new FlatMemory(pages.length * PAGE_SIZE);
    pages.forEach((seed, pfn) => {
      if (seed !== 0)
        memory.write(
          pfn * PAGE_SIZE,
          Uint8Array.from({ length: PAGE_SIZE }, (_, i) => ((seed * 31 + i * 7) % 255) + 1),
        );
    });
    const result = new PrecopyMigration(new StillSource(memory, saysQuiet), { strategies: strategySet(strategy), sink: () => {}, destinationFresh: true, cost }).run();

    const zeros = pages.filter((p) => p === 0).length;
    const data = pages.length - zeros;
    const wholePages = strategy === 'none' ? pages.length : data;
    expect(result).toMatchObject({ status: 'completed', rounds: 2, syncs: 3, normalPages: wholePages, zeroPages: pages.length - wholePages });
    const pageBytes = wholePages * WIRE_PAGE_BYTES + (pages.length - wholePages) * WIRE_ZERO_PAGE_BYTES;
    // Only the END record goes besides the pages (the source has no device state).
    expect(result.bytes - pageBytes).toBeGreaterThan(0);
    expect(result.bytes - pageBytes).toBeLessThan(64);

    const syncMs = cost.syncFixedMs + (cost.syncPerGiBMs * pages.length * PAGE_SIZE) / 2 ** 30;
    const sequentialMs = 3 * syncMs + (pages.length * PAGE_SIZE * 1000) / cost.scanRate + (result.bytes * 1000) / cost.bandwidth;
    expect(result.totalMs).toBeCloseTo(sequentialMs, 6);
  },
);
