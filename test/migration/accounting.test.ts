import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { countPatternPages } from '../../src/memory/described-pages.js';
import { WIRE_PAGE_BYTES, WIRE_ZERO_PAGE_BYTES } from '../../src/migration/cost-model.js';
import { StreamReader } from '../../src/migration/stream.js';
import { migrate } from '../../src/sim/migrate.js';
import { runs } from '../support/runs.js';
import { busyGuest, freshDestination } from './support.js';

describe('migration accounting', () => {
  it('a hinted page is sent only if the guest wrote it after the hint (H2); records add up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 20 }), fc.constantFrom(1e8, 4e8, 1.25e9), fc.constantFrom('zero+hint', 'hint', 'zero+zero-skip+hint'), (seed, bandwidth, strategies) => {
        const vm = busyGuest(seed);
        vm.run(5);
        // When each page was last hinted and last written, in a global event order.
        let clock = 0;
        const hintedAt = new Map<number, number>();
        const writtenAt = new Map<number, number>();
        vm.device.hints$.subscribe((b) => {
          for (const r of b.ranges) for (let p = r.gpa / PAGE_SIZE; p < (r.gpa + r.length) / PAGE_SIZE; p++) hintedAt.set(p, ++clock);
        });
        const kernel = vm.kernel;
        for (const method of ['writePage', 'zeroPage'] as const) {
          const original = kernel[method].bind(kernel);
          kernel[method] = (pfn: number) => {
            writtenAt.set(pfn, ++clock);
            original(pfn);
          };
        }
        const records = { pages: 0, zero: 0, badSends: [] as number[] };
        const reader = new StreamReader((r) => {
          if (r.type === 'HEADER' || r.type === 'DEVICE' || r.type === 'ROUND' || r.type === 'END') return;
          const count = r.type === 'ZERO' || r.type === 'FILL' ? r.count : r.type === 'PATTERN' ? countPatternPages(r.runs) : 1;
          for (let pfn = r.gpa / PAGE_SIZE; pfn < r.gpa / PAGE_SIZE + count; pfn++) {
            const hint = hintedAt.get(pfn);
            if (hint !== undefined && (writtenAt.get(pfn) ?? 0) < hint) records.badSends.push(pfn);
          }
          if (r.type === 'ZERO') records.zero += count;
          else records.pages += count;
        });
        const m = migrate(vm, freshDestination(seed), { strategies, cost: { bandwidth }, tamper: (c) => (reader.push(c), c) });
        expect(m.error).toBeUndefined();
        expect(records.badSends).toEqual([]);
        expect(records.pages).toBe(m.result.normalPages);
        expect(records.zero).toBe(m.result.zeroPages);
        // The wire carries each page whole and each zero page as a header (QEMU's record sizes).
        const pageBytes = m.result.normalPages * WIRE_PAGE_BYTES + m.result.zeroPages * WIRE_ZERO_PAGE_BYTES;
        expect(m.result.bytes).toBeGreaterThanOrEqual(pageBytes);
        expect(m.result.bytes - pageBytes).toBeLessThan(64 * 1024);
        expect(m.result.hintedPages).toBeGreaterThan(0);
      }),
      { numRuns: runs(20) },
    );
  });
});
