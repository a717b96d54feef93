import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BuddyAllocator, type BuddyOptions, type FreePolicy } from '../../src/guest/buddy.js';
import { runs } from '../support/runs.js';

// The buddy allocator against a plain model: which pages are RAM, reserved, and handed out.

interface Layout {
  ram: Array<[number, number]>;
  reserved: Array<[number, number]>;
  maxOrder: number;
}

const layout: fc.Arbitrary<Layout> = fc
  .record({
    maxOrder: fc.integer({ min: 0, max: 5 }),
    pieces: fc.array(fc.record({ gap: fc.integer({ min: 0, max: 40 }), size: fc.integer({ min: 1, max: 150 }) }), { minLength: 1, maxLength: 3 }),
    reserved: fc.array(fc.record({ at: fc.nat(400), size: fc.integer({ min: 1, max: 20 }) }), { maxLength: 2 }),
  })
  .map(({ maxOrder, pieces, reserved }) => {
    const ram: Array<[number, number]> = [];
    let at = 0;
    for (const p of pieces) {
      at += p.gap;
      ram.push([at, p.size]);
      at += p.size;
    }
    return { maxOrder, ram, reserved: reserved.map((r): [number, number] => [r.at, r.size]) };
  });

type Op = { kind: 'alloc'; order: number } | { kind: 'free'; pick: number };
const ops = fc.array(fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 5 }).map((order): Op => ({ kind: 'alloc', order })) }, { weight: 2, arbitrary: fc.nat().map((pick): Op => ({ kind: 'free', pick })) }), { maxLength: 120 });

/** Pages the allocator may hand out: RAM minus reserved. */
function managedSet(l: Layout): Set<number> {
  const pages = new Set<number>();
  for (const [first, count] of l.ram) for (let p = first; p < first + count; p++) pages.add(p);
  for (const [first, count] of l.reserved) for (let p = first; p < first + count; p++) pages.delete(p);
  return pages;
}

/** The largest aligned blocks that tile each run of managed pages (what merging must restore). */
function maximalBlocks(managed: Set<number>, maxOrder: number): Array<[number, number]> {
  const blocks: Array<[number, number]> = [];
  const sorted = [...managed].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    const end = sorted[j]! + 1;
    for (let at = sorted[i]!; at < end; ) {
      let order = maxOrder;
      while (order > 0 && (at % 2 ** order !== 0 || at + 2 ** order > end)) order--;
      blocks.push([at, order]);
      at += 2 ** order;
    }
    i = j + 1;
  }
  return blocks;
}

function check(make: (o: BuddyOptions) => BuddyAllocator): fc.IProperty<[Layout, Op[]]> {
  return fc.property(layout, ops, (l, script) => {
    const managed = managedSet(l);
    const buddy = make({ ram: l.ram, reserved: l.reserved, maxOrder: l.maxOrder });
    expect(buddy.managedPages).toBe(managed.size);
    const owner = new Map<number, number>(); // page -> allocation head
    const live: Array<[number, number]> = [];
    for (const op of script) {
      if (op.kind === 'alloc') {
        if (op.order > l.maxOrder) continue;
        const head = buddy.alloc(op.order);
        if (head === undefined) {
          // Only when no fully free, naturally aligned block of that size exists.
          const size = 2 ** op.order;
          for (let at = 0; at < 1000; at += size) {
            let free = true;
            for (let p = at; p < at + size && free; p++) free = managed.has(p) && !owner.has(p);
            if (free) {
              // A free aligned block can still be unreachable if it straddles two maximal blocks.
              const inOne = maximalBlocks(managed, l.maxOrder).some(([h, o]) => at >= h && at + size <= h + 2 ** o);
              expect(inOne).toBe(false);
            }
          }
          continue;
        }
        expect(head % 2 ** op.order).toBe(0);
        for (let p = head; p < head + 2 ** op.order; p++) {
          expect(managed.has(p)).toBe(true); // in RAM, not reserved
          expect(owner.has(p)).toBe(false); // not handed out twice
          owner.set(p, head);
        }
        live.push([head, op.order]);
      } else if (live.length > 0) {
        const [head, order] = live.splice(op.pick % live.length, 1)[0]!;
        buddy.free(head, order);
        for (let p = head; p < head + 2 ** order; p++) owner.delete(p);
      }
      // Conservation, and page states agree with the model.
      expect(buddy.freePages + buddy.allocatedPages).toBe(managed.size);
      expect(buddy.allocatedPages).toBe(owner.size);
    }
    for (const p of managed) expect([buddy.isAllocated(p), buddy.isFree(p)]).toEqual([owner.has(p), !owner.has(p)]);
    // Free everything: buddies merge back into the maximal blocks.
    for (const [head, order] of live) buddy.free(head, order);
    const blocks = [...buddy.freeBlockList()].sort((a, b) => a[0] - b[0]);
    expect(blocks).toEqual(maximalBlocks(managed, l.maxOrder));
  });
}

describe('BuddyAllocator', () => {
  it('hands out aligned, disjoint blocks of managed RAM, conserves pages, and merges back', () => {
    fc.assert(check((o) => new BuddyAllocator(o)), { numRuns: runs(300) });
  });

  it('the property catches an allocator that hands the same block out twice', () => {
    class Doubling extends BuddyAllocator {
      private last: number | undefined;
      override alloc(order: number): number | undefined {
        if (order === 0 && this.last !== undefined) return this.last;
        const head = super.alloc(order);
        if (order === 0) this.last = head;
        return head;
      }
    }
    const result = fc.check(check((o) => new Doubling(o)), { numRuns: 300, seed: 11 });
    expect(result.failed).toBe(true);
  });

  it('applies the free-time policy to exactly the freed block, and init_on_alloc on allocation', () => {
    const policies: FreePolicy[] = ['none', 'zero', 'poison'];
    for (const freePolicy of policies) {
      const fills: Array<[number, number, number]> = [];
      const buddy = new BuddyAllocator({ ram: [[0, 64]], maxOrder: 3, freePolicy, initOnAlloc: true, contents: { fill: (p, c, b) => fills.push([p, c, b]) } });
      const head = buddy.alloc(2)!;
      expect(fills).toEqual([[head, 4, 0]]);
      fills.length = 0;
      buddy.free(head, 2);
      expect(fills).toEqual(freePolicy === 'none' ? [] : [[head, 4, freePolicy === 'zero' ? 0 : 0xaa]]);
    }
  });

  it('rejects frees of blocks it did not hand out, and orders past the maximum', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 64]], maxOrder: 3 });
    const head = buddy.alloc(1)!;
    expect(() => buddy.free(head, 0)).toThrow();
    expect(() => buddy.free(head + 8, 1)).toThrow();
    buddy.free(head, 1);
    expect(() => buddy.free(head, 1)).toThrow();
    expect(() => buddy.alloc(4)).toThrow(RangeError);
  });

  it('isolates unreported blocks for reporting and takes them back marked reported', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 64]], maxOrder: 3 });
    expect(buddy.unreportedBlocks(3)).toBe(8);
    const taken = buddy.isolateUnreported(3, 5);
    expect(taken).toHaveLength(5);
    expect(buddy.freePages).toBe(24);
    for (const [h, o] of taken) buddy.putBackReported(h, o);
    expect(buddy.freePages).toBe(64);
    expect(buddy.unreportedBlocks(3)).toBe(3);
    expect(buddy.isolateUnreported(3, 32)).toHaveLength(3);
  });

  it('scales to a 1 TiB guest: 2^28 pages', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 2 ** 28]], maxOrder: 10 });
    const blocks = Array.from({ length: 2000 }, (_, i) => [buddy.alloc(i % 2 === 0 ? 0 : 10)!, i % 2 === 0 ? 0 : 10] as const);
    expect(buddy.allocatedPages).toBe(1000 + 1000 * 1024);
    for (const [head, order] of blocks) buddy.free(head, order);
    expect(buddy.freeBlocks(10)).toBe(2 ** 18);
  });
});
