import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BuddyAllocator, PAGE_POISON_BYTE, type BuddyOptions, type FreePolicy, type PageContents } from '../../src/guest/buddy.js';
import { runs } from '../support/runs.js';

// The buddy allocator against a page-by-page model. The model knows only the RAM layout, the
// reserved ranges and which blocks the test holds; every expectation is derived from it.

type Range = readonly [first: number, count: number];

interface Layout {
  readonly ram: readonly Range[];
  readonly reserved: readonly Range[];
  readonly maxOrder: number;
}

/** 1–3 RAM ranges at an arbitrary start with holes between them, and up to 3 reserved ranges anywhere near them. */
const layoutArb: fc.Arbitrary<Layout> = fc
  .record({
    base: fc.nat(300),
    pieces: fc.array(fc.record({ gap: fc.integer({ min: 1, max: 40 }), size: fc.integer({ min: 1, max: 160 }) }), { minLength: 1, maxLength: 3 }),
    reserved: fc.array(fc.record({ at: fc.nat(10_000), size: fc.integer({ min: 1, max: 24 }) }), { maxLength: 3 }),
    maxOrder: fc.integer({ min: 0, max: 5 }),
  })
  .map(({ base, pieces, reserved, maxOrder }): Layout => {
    const ram: Range[] = [];
    let at = base;
    pieces.forEach((piece, i) => {
      if (i > 0) at += piece.gap;
      ram.push([at, piece.size]);
      at += piece.size;
    });
    const span = at - base;
    // Reserved ranges may start before RAM, straddle a hole or run past the end.
    const res = reserved.map((r): Range => [Math.max(0, base - 8 + (r.at % (span + 16))), r.size]);
    return { ram, reserved: res, maxOrder };
  });

const OUTSIDE = 0; // a hole, a reserved page, or past the end of RAM
const FREE = 1;
const USED = 2; // handed out by alloc
const ISOLATED = 3; // taken out for free page reporting
type PageState = typeof OUTSIDE | typeof FREE | typeof USED | typeof ISOLATED;

const within = ([first, count]: Range, pfn: number): boolean => pfn >= first && pfn < first + count;

/** Page states over a window that covers all RAM with a block of slack either side. */
class PageModel {
  readonly lo: number;
  readonly hi: number;
  readonly managed: number;
  private readonly state: Uint8Array;

  constructor(readonly layout: Layout) {
    const slack = 2 ** layout.maxOrder;
    this.lo = Math.max(0, Math.min(...layout.ram.map(([first]) => first)) - slack);
    this.hi = Math.max(...layout.ram.map(([first, count]) => first + count)) + slack;
    this.state = new Uint8Array(this.hi - this.lo);
    let managed = 0;
    for (let pfn = this.lo; pfn < this.hi; pfn++) {
      const inRam = layout.ram.some((r) => within(r, pfn));
      const reserved = layout.reserved.some((r) => within(r, pfn));
      if (inRam && !reserved) {
        this.state[pfn - this.lo] = FREE;
        managed++;
      }
    }
    this.managed = managed;
  }

  get(pfn: number): PageState {
    if (pfn < this.lo || pfn >= this.hi) return OUTSIDE;
    return this.state[pfn - this.lo] as PageState;
  }

  mark(pfn: number, order: number, s: PageState): void {
    this.state.fill(s, pfn - this.lo, pfn - this.lo + 2 ** order);
  }

  count(s: PageState): number {
    let n = 0;
    for (const v of this.state) if (v === s) n++;
    return n;
  }

  allIn(pfn: number, order: number, s: PageState): boolean {
    for (let p = pfn; p < pfn + 2 ** order; p++) if (this.get(p) !== s) return false;
    return true;
  }

  /** Is there a naturally aligned block of 2^order pages that are all free? */
  hasFreeBlock(order: number): boolean {
    const size = 2 ** order;
    for (let at = Math.ceil(this.lo / size) * size; at + size <= this.hi; at += size) if (this.allIn(at, order, FREE)) return true;
    return false;
  }

  /**
   * The largest aligned blocks that tile the managed pages (or only the free ones), found
   * top-down: a block is taken when all its pages qualify and no larger block already took them.
   */
  maximalBlocks(onlyFree = false): Array<[number, number]> {
    const taken = new Uint8Array(this.hi - this.lo);
    const out: Array<[number, number]> = [];
    for (let order = this.layout.maxOrder; order >= 0; order--) {
      const size = 2 ** order;
      for (let at = Math.ceil(this.lo / size) * size; at + size <= this.hi; at += size) {
        let ok = true;
        for (let p = at; p < at + size && ok; p++) ok = (onlyFree ? this.get(p) === FREE : this.get(p) !== OUTSIDE) && taken[p - this.lo] === 0;
        if (!ok) continue;
        taken.fill(1, at - this.lo, at - this.lo + size);
        out.push([at, order]);
      }
    }
    return out.sort((a, b) => a[0] - b[0]);
  }
}

/** Everything the allocator reports, compared with the model; returns the disagreements. */
function disagreements(buddy: BuddyAllocator, model: PageModel): string[] {
  const out: string[] = [];
  const free = model.count(FREE);
  const held = model.count(USED) + model.count(ISOLATED);
  if (buddy.managedPages !== model.managed) out.push(`managedPages ${buddy.managedPages}, model ${model.managed}`);
  if (buddy.freePages !== free) out.push(`freePages ${buddy.freePages}, model ${free}`);
  if (buddy.allocatedPages !== held) out.push(`allocatedPages ${buddy.allocatedPages}, model ${held}`);
  if (buddy.freePages + buddy.allocatedPages !== model.managed) out.push('free + allocated != managed');
  for (let pfn = 0; pfn < model.hi && out.length < 8; pfn++) {
    const s = model.get(pfn);
    if (buddy.isFree(pfn) !== (s === FREE)) out.push(`isFree(${pfn}) ${buddy.isFree(pfn)}, model state ${s}`);
    // An isolated block is out of the free lists; whether it counts as allocated is not the model's business.
    if (s !== ISOLATED && buddy.isAllocated(pfn) !== (s === USED)) out.push(`isAllocated(${pfn}) ${buddy.isAllocated(pfn)}, model state ${s}`);
  }
  // The free blocks tile exactly the free pages, each naturally aligned.
  const covered = new Set<number>();
  const perOrder = new Array<number>(model.layout.maxOrder + 1).fill(0);
  for (const [head, order] of buddy.freeBlockList()) {
    if (!Number.isInteger(order) || order < 0 || order > model.layout.maxOrder) {
      out.push(`free block ${head} has order ${order}`);
      continue;
    }
    perOrder[order]!++;
    if (head % 2 ** order !== 0) out.push(`free block ${head} order ${order} is misaligned`);
    for (let p = head; p < head + 2 ** order; p++) {
      if (model.get(p) !== FREE) out.push(`free block ${head} order ${order} holds page ${p} in state ${model.get(p)}`);
      if (covered.has(p)) out.push(`page ${p} is in two free blocks`);
      covered.add(p);
    }
  }
  if (covered.size !== free) out.push(`free blocks cover ${covered.size} pages, model has ${free} free`);
  for (let order = 0; order <= model.layout.maxOrder; order++) {
    if (buddy.freeBlocks(order) !== perOrder[order]) out.push(`freeBlocks(${order}) ${buddy.freeBlocks(order)}, list has ${perOrder[order]}`);
  }
  return out.slice(0, 8);
}

/** Why a block the allocator handed out is wrong, judged by the layout and the model. */
function badBlock(model: PageModel, pfn: number, order: number): string | undefined {
  const size = 2 ** order;
  if (!Number.isInteger(pfn)) return `pfn ${pfn} is not an integer`;
  if (pfn % size !== 0) return `pfn ${pfn} is not aligned to order ${order}`;
  if (!model.layout.ram.some(([first, count]) => pfn >= first && pfn + size <= first + count)) return `block ${pfn} order ${order} is not inside one RAM range`;
  if (model.layout.reserved.some(([first, count]) => pfn < first + count && first < pfn + size)) return `block ${pfn} order ${order} overlaps a reserved range`;
  for (let p = pfn; p < pfn + size; p++) if (model.get(p) !== FREE) return `page ${p} of block ${pfn} order ${order} was not free (state ${model.get(p)})`;
  return undefined;
}

type Op =
  | { kind: 'alloc'; order: number }
  | { kind: 'free'; pick: number; again: boolean }
  | { kind: 'badFree'; pick: number; fromLive: boolean; delta: number; order: number }
  | { kind: 'badAlloc'; past: number; special: number | undefined };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('alloc' as const), order: fc.nat(5) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat(), again: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('badFree' as const),
      pick: fc.nat(),
      fromLive: fc.boolean(),
      delta: fc.nat(2),
      order: fc.oneof(fc.integer({ min: -1, max: 7 }), fc.constantFrom(15, 16, 17, 0.5, 1.5, Number.NaN, Infinity)),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('badAlloc' as const),
      past: fc.integer({ min: 1, max: 12 }),
      special: fc.option(fc.constantFrom(-1, 0.5, Number.NaN, Infinity, -Infinity), { nil: undefined }),
    }),
  },
);

interface Live {
  readonly pfn: number;
  readonly order: number;
}

/** Run one op on the allocator and the model; throws (through expect) on any disagreement. */
function step(buddy: BuddyAllocator, model: PageModel, live: Live[], op: Op): void {
  const maxOrder = model.layout.maxOrder;
  switch (op.kind) {
    case 'alloc': {
      const order = op.order % (maxOrder + 1);
      const possible = model.hasFreeBlock(order);
      const pfn = buddy.alloc(order);
      if (pfn === undefined) {
        // Free aligned blocks merge into the free lists, so one fully free aligned block is enough.
        expect(possible, `alloc(${order}) failed with a fully free aligned block available`).toBe(false);
        break;
      }
      expect(badBlock(model, pfn, order)).toBeUndefined();
      model.mark(pfn, order, USED);
      live.push({ pfn, order });
      break;
    }
    case 'free': {
      if (live.length === 0) break;
      const [block] = live.splice(op.pick % live.length, 1) as [Live];
      buddy.free(block.pfn, block.order);
      model.mark(block.pfn, block.order, FREE);
      if (op.again) expect(() => buddy.free(block.pfn, block.order), 'double free').toThrow();
      break;
    }
    case 'badFree': {
      const target = op.fromLive && live.length > 0 ? live[op.pick % live.length]!.pfn + op.delta : model.lo + (op.pick % (model.hi - model.lo + 8));
      if (live.some((b) => b.pfn === target && b.order === op.order)) break; // that one is a valid free
      expect(() => buddy.free(target, op.order), `free(${target}, ${op.order})`).toThrow();
      break;
    }
    case 'badAlloc': {
      const order = op.special ?? maxOrder + op.past;
      expect(() => buddy.alloc(order), `alloc(${order})`).toThrow(RangeError);
      break;
    }
  }
}

const policyArb = fc.constantFrom<FreePolicy>('none', 'zero', 'poison');

/** Alloc/free sequences on random layouts: the allocator agrees with the model after every step, and merges back fully. */
function allocFreeProperty(make: (options: BuddyOptions) => BuddyAllocator): fc.IPropertyWithHooks<[Layout, FreePolicy, Op[], number[]]> {
  return fc.property(layoutArb, policyArb, fc.array(opArb, { maxLength: 120, size: 'max' }), fc.array(fc.nat(), { maxLength: 200, size: 'max' }), (layout, freePolicy, ops, finalOrder) => {
    const model = new PageModel(layout);
    const buddy = make({ ram: layout.ram, reserved: layout.reserved, maxOrder: layout.maxOrder, freePolicy });
    const live: Live[] = [];
    expect(disagreements(buddy, model)).toEqual([]);
    for (const op of ops) {
      step(buddy, model, live, op);
      expect(disagreements(buddy, model), JSON.stringify(op)).toEqual([]);
    }
    // Free what is left in a random order: the buddies merge back into the maximal blocks.
    for (let i = 0; live.length > 0; i++) {
      const [block] = live.splice((finalOrder[i] ?? 0) % live.length, 1) as [Live];
      buddy.free(block.pfn, block.order);
      model.mark(block.pfn, block.order, FREE);
    }
    expect(disagreements(buddy, model)).toEqual([]);
    expect([...buddy.freeBlockList()].sort((a, b) => a[0] - b[0])).toEqual(model.maximalBlocks());
  });
}

// ---- broken twins (no injection seam: subclasses) ----

/** Hands the block of its first allocation out a second time. */
class DoubleHandout extends BuddyAllocator {
  private calls = 0;
  private first: number | undefined;
  override alloc(order: number): number | undefined {
    this.calls++;
    if (this.calls === 2 && this.first !== undefined) return this.first;
    const pfn = super.alloc(order);
    if (this.calls === 1) this.first = pfn;
    return pfn;
  }
}

/** Forgets single pages it is asked to free. */
class LeakySinglePages extends BuddyAllocator {
  override free(pfn: number, order: number): void {
    if (order === 0 && this.isAllocated(pfn)) return;
    super.free(pfn, order);
  }
}

/** The allocator's private helpers, reached by a test-only view (TypeScript privacy is compile-time only). */
interface BuddyInternals {
  readonly info: Uint8Array;
  addFree(pfn: number, order: number): void;
  mergeFree(pfn: number, order: number, reported: boolean): number;
}

/** Frees a block straight onto its free list without merging it with its buddy. */
class NoMerge extends BuddyAllocator {
  override free(pfn: number, order: number): void {
    const inner = this as unknown as BuddyInternals;
    // Per-page byte: kind in the high nibble (3 = used head, 2 = a tail of any block), order in the low one.
    if (!Number.isInteger(order) || order < 0 || order > this.maxOrder || inner.info[pfn] !== ((3 << 4) | order)) throw new Error('not allocated');
    inner.info.fill(2 << 4, pfn, pfn + 2 ** order);
    inner.addFree(pfn, order);
  }
}

describe('BuddyAllocator against a page model', () => {
  it('alloc/free sequences: conservation, aligned disjoint blocks in one RAM range, no reserved pages, page states, failures only when nothing fits, full merge', () => {
    fc.assert(
      allocFreeProperty((o) => new BuddyAllocator(o)),
      { numRuns: runs(300) },
    );
  });

  it('the property catches broken twins', () => {
    const twins: Array<[string, (o: BuddyOptions) => BuddyAllocator]> = [
      ['hands one block out twice', (o) => new DoubleHandout(o)],
      ['loses freed single pages', (o) => new LeakySinglePages(o)],
      ['never merges buddies', (o) => new NoMerge(o)],
    ];
    for (const [name, make] of twins) {
      const result = fc.check(allocFreeProperty(make), { numRuns: 300, endOnFailure: true });
      expect(result.failed, name).toBe(true);
    }
  });

  it('managedPages is RAM minus the reserved pages inside RAM', () => {
    // RAM 10..29 and 40..49; reserved 0..11 (2 pages in RAM), 25..44 (5 + 5 pages), 100..109 (none).
    const buddy = new BuddyAllocator({
      ram: [
        [10, 20],
        [40, 10],
      ],
      reserved: [
        [0, 12],
        [25, 20],
        [100, 10],
      ],
      maxOrder: 3,
    });
    expect(buddy.managedPages).toBe(30 - 12);
    expect(buddy.freePages).toBe(18);
    for (const pfn of [9, 10, 11, 25, 29, 30, 39, 40, 44]) expect([pfn, buddy.isFree(pfn)]).toEqual([pfn, false]);
    for (const pfn of [12, 24, 45, 49]) expect([pfn, buddy.isFree(pfn)]).toEqual([pfn, true]);
  });
});

describe('merging', () => {
  /** Allocate every page one by one, free them in a random order, and return the free blocks. */
  function fragmentAndRestore(options: BuddyOptions, picks: number[]): Array<[number, number]> {
    const buddy = new BuddyAllocator(options);
    const pages: number[] = [];
    for (let pfn = buddy.alloc(0); pfn !== undefined; pfn = buddy.alloc(0)) pages.push(pfn);
    expect(buddy.freePages).toBe(0);
    expect(pages.length).toBe(buddy.managedPages);
    for (let i = 0; pages.length > 0; i++) {
      const [pfn] = pages.splice((picks[i] ?? 0) % pages.length, 1) as [number];
      buddy.free(pfn, 0);
    }
    return [...buddy.freeBlockList()].sort((a, b) => a[0] - b[0]);
  }

  it('an aligned RAM of 2^k pages ends as one max-order block', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 64, size: 'max' }), (picks) => {
        expect(fragmentAndRestore({ ram: [[64, 64]], maxOrder: 6 }, picks)).toEqual([[64, 6]]);
      }),
      { numRuns: runs(50) },
    );
  });

  it('an unaligned run ends as its largest aligned blocks', () => {
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40, size: 'max' }), (picks) => {
        // 3..15: 3 | 4..7 | 8..15.
        expect(fragmentAndRestore({ ram: [[3, 13]], maxOrder: 3 }, picks)).toEqual([
          [3, 0],
          [4, 2],
          [8, 3],
        ]);
        // 0..15 without 8: 0..7 | 9 | 10..11 | 12..15.
        expect(fragmentAndRestore({ ram: [[0, 16]], reserved: [[8, 1]], maxOrder: 4 }, picks)).toEqual([
          [0, 3],
          [9, 0],
          [10, 1],
          [12, 2],
        ]);
        // 0..39 with maxOrder 4: blocks stop at order 4 even where a larger one would be aligned.
        expect(fragmentAndRestore({ ram: [[0, 40]], maxOrder: 4 }, picks)).toEqual([
          [0, 4],
          [16, 4],
          [32, 3],
        ]);
      }),
      { numRuns: runs(30) },
    );
  });
});

type ROp = { kind: 'alloc'; order: number } | { kind: 'free'; pick: number } | { kind: 'isolate'; minOrder: number; max: number } | { kind: 'putBack'; pick: number };
const rOpArb: fc.Arbitrary<ROp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('alloc' as const), order: fc.nat(5) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('isolate' as const), minOrder: fc.nat(5), max: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('putBack' as const), pick: fc.nat() }) },
);

/**
 * Free page reporting against the page model, which also knows which free blocks are reported:
 * a block put back is reported while it stays a free block of its own (no merge, no alloc).
 */
function reportingProperty(make: (options: BuddyOptions) => BuddyAllocator): fc.IPropertyWithHooks<[Layout, ROp[]]> {
  return fc.property(layoutArb, fc.array(rOpArb, { maxLength: 100, size: 'max' }), (layout, ops) => {
    const model = new PageModel(layout);
    const buddy = make({ ram: layout.ram, reserved: layout.reserved, maxOrder: layout.maxOrder });
    const live: Live[] = [];
    const isolated: Live[] = [];
    /** Reported free blocks, head → order. */
    const reported = new Map<number, number>();
    const key = ([pfn, order]: readonly [number, number]): string => `${pfn}/${order}`;
    for (const op of ops) {
      if (op.kind === 'alloc' || op.kind === 'free') {
        const before = live.length;
        step(buddy, model, live, op.kind === 'alloc' ? op : { ...op, again: false });
        // A reported block that an allocation took from, whole or split, is reported no more.
        const got = live.length > before ? live[live.length - 1]! : undefined;
        if (got) for (const [pfn, order] of reported) if (pfn < got.pfn + 2 ** got.order && got.pfn < pfn + 2 ** order) reported.delete(pfn);
      } else if (op.kind === 'isolate') {
        const minOrder = op.minOrder % (layout.maxOrder + 1);
        const unreported = model.maximalBlocks(true).filter(([pfn, order]) => order >= minOrder && reported.get(pfn) !== order).length;
        expect(buddy.unreportedBlocks(minOrder), 'blocks the allocator counts as not reported yet').toBe(unreported);
        const taken = buddy.isolateUnreported(minOrder, op.max);
        expect(taken.length).toBe(Math.min(unreported, op.max));
        for (const [pfn, order] of taken) {
          expect(order).toBeGreaterThanOrEqual(minOrder);
          expect(order).toBeLessThanOrEqual(layout.maxOrder);
          expect(badBlock(model, pfn, order)).toBeUndefined();
          expect(reported.get(pfn), `block ${pfn}/${order} reported again`).not.toBe(order);
          model.mark(pfn, order, ISOLATED);
          isolated.push({ pfn, order });
        }
      } else if (isolated.length > 0) {
        const [block] = isolated.splice(op.pick % isolated.length, 1) as [Live];
        buddy.putBackReported(block.pfn, block.order);
        model.mark(block.pfn, block.order, FREE);
        reported.set(block.pfn, block.order);
      }
      // Merged into a larger free block: that block was never reported whole.
      const blocks = new Set(model.maximalBlocks(true).map(key));
      for (const entry of reported) if (!blocks.has(key(entry))) reported.delete(entry[0]);
      expect(disagreements(buddy, model), JSON.stringify(op)).toEqual([]);
      expect([...buddy.freeBlockList()].sort((a, b) => a[0] - b[0])).toEqual(model.maximalBlocks(true));
    }
    for (const block of isolated) buddy.putBackReported(block.pfn, block.order);
    for (const block of live) buddy.free(block.pfn, block.order);
    for (const block of [...isolated, ...live]) model.mark(block.pfn, block.order, FREE);
    expect(disagreements(buddy, model)).toEqual([]);
    expect([...buddy.freeBlockList()].sort((a, b) => a[0] - b[0])).toEqual(model.maximalBlocks());
  });
}

/** Puts an isolated block back without marking it reported, so the next pass reports it again. */
class ForgetsReported extends BuddyAllocator {
  override putBackReported(head: number, order: number): void {
    (this as unknown as BuddyInternals).mergeFree(head, order, false);
  }
}

describe('free page reporting keeps the free lists sound', () => {
  it('isolated blocks are free, aligned, large enough and not reported yet; put back, they merge like freed ones', () => {
    fc.assert(
      reportingProperty((o) => new BuddyAllocator(o)),
      { numRuns: runs(100) },
    );
  });

  it('the property catches an allocator that forgets which blocks it reported', () => {
    const result = fc.check(
      reportingProperty((o) => new ForgetsReported(o)),
      { numRuns: 300, seed: 51, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/blocks the allocator counts as not reported yet/);
  });

  // Free lists drop their stale entries once those outnumber the live ones (a few thousand
  // pushes): the sequences below get there, and every live block must still be handed out.
  it('dropping stale free list entries keeps every live block', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 8192]], maxOrder: 1 });
    for (let i = 0; i < 8192; i++) buddy.alloc(0);
    for (let p = 0; p < 8192; p += 2) buddy.free(p, 0); // 4096 single pages, their buddies held
    for (let p = 1; p < 6001; p += 2) buddy.free(p, 0); // 3000 of them merge: stale entries
    for (let i = 0; i < 3000; i++) expect(buddy.alloc(1)).toBeDefined();
    buddy.free(buddy.alloc(0)!, 0); // a push onto the stale list
    // Left free: the even pages from 6000 on, whose odd buddies are still held.
    let got = 0;
    while (buddy.alloc(0) !== undefined) got++;
    expect(got).toBe((8192 - 6000) / 2);
    expect(buddy.freePages).toBe(0);
  });

  it('dropping stale reported entries keeps every live reported block', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 8192]], maxOrder: 2 });
    for (let i = 0; i < 4096; i++) buddy.alloc(1);
    for (let p = 2; p < 8192; p += 4) buddy.free(p, 1); // 2048 upper halves free, lower halves held
    const upper = buddy.isolateUnreported(1, 4096);
    expect(upper).toHaveLength(2048);
    for (const [pfn, order] of upper) buddy.putBackReported(pfn, order); // 2048 reported, unmerged
    // The first 1900 put back merge with their freed lower halves: stale reported entries.
    for (const [pfn] of upper.slice(0, 1900)) buddy.free(pfn - 2, 1);
    expect(buddy.isolateUnreported(2, 4096)).toHaveLength(1900); // out of the way
    const one = buddy.alloc(1)!; // a reported block, handed out and freed: unreported again
    buddy.free(one, 1);
    const [again] = buddy.isolateUnreported(1, 4096);
    expect(again).toEqual([one, 1]);
    buddy.putBackReported(one, 1); // a push onto the stale reported list
    let got = 0;
    while (buddy.alloc(1) !== undefined) got++;
    expect(got).toBe(2048 - 1900);
    expect(buddy.freePages).toBe(0);
  });

  it('a block put back next to its freed buddy merges with it', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 16]], maxOrder: 4 });
    const low = buddy.alloc(3);
    expect(low).toBe(0); // a fresh zone hands out low addresses first
    expect(buddy.isolateUnreported(3, 8)).toEqual([[8, 3]]);
    buddy.free(0, 3);
    buddy.putBackReported(8, 3);
    expect([...buddy.freeBlockList()]).toEqual([[0, 4]]);
    expect(buddy.alloc(4)).toBe(0);
  });
});

describe('free-time policy and init_on_alloc', () => {
  /** Records which pages got which byte since the last take(). */
  class RecordingContents implements PageContents {
    private writes = new Map<number, number>();
    fill(firstPfn: number, count: number, byte: number): void {
      expect(Number.isInteger(firstPfn) && Number.isInteger(count) && count > 0).toBe(true);
      for (let p = firstPfn; p < firstPfn + count; p++) {
        expect(this.writes.has(p), `page ${p} filled twice in one call`).toBe(false);
        this.writes.set(p, byte);
      }
    }
    take(): Array<[number, number]> {
      const out = [...this.writes].sort((a, b) => a[0] - b[0]);
      this.writes = new Map();
      return out;
    }
  }

  const blockFilled = (pfn: number, order: number, byte: number): Array<[number, number]> => Array.from({ length: 2 ** order }, (_, i): [number, number] => [pfn + i, byte]);

  it('freeing fills exactly the freed block (0 for zero, 0xaa for poison, nothing for none); init_on_alloc zeroes exactly the allocated block', () => {
    expect(PAGE_POISON_BYTE).toBe(0xaa);
    fc.assert(
      fc.property(
        layoutArb,
        policyArb,
        fc.boolean(),
        fc.array(fc.oneof(fc.record({ alloc: fc.constant(true), n: fc.nat(5) }), fc.record({ alloc: fc.constant(false), n: fc.nat() })), { maxLength: 80, size: 'max' }),
        (layout, freePolicy, initOnAlloc, ops) => {
          const contents = new RecordingContents();
          const buddy = new BuddyAllocator({ ram: layout.ram, reserved: layout.reserved, maxOrder: layout.maxOrder, freePolicy, initOnAlloc, contents });
          contents.take(); // what boot does to memory is not this test's concern
          const live: Live[] = [];
          for (const op of ops) {
            if (op.alloc) {
              const order = op.n % (layout.maxOrder + 1);
              const pfn = buddy.alloc(order);
              if (pfn !== undefined) live.push({ pfn, order });
              expect(contents.take()).toEqual(pfn !== undefined && initOnAlloc ? blockFilled(pfn, order, 0) : []);
            } else if (live.length > 0) {
              const [block] = live.splice(op.n % live.length, 1) as [Live];
              buddy.free(block.pfn, block.order);
              const expected = freePolicy === 'none' ? [] : blockFilled(block.pfn, block.order, freePolicy === 'zero' ? 0 : 0xaa);
              expect(contents.take()).toEqual(expected);
            }
          }
        },
      ),
      { numRuns: runs(100) },
    );
  });

  it('a policy without a contents backend is harmless', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 8]], maxOrder: 2, freePolicy: 'poison', initOnAlloc: true });
    const pfn = buddy.alloc(2);
    expect(pfn).toBe(4); // a fresh zone hands out its highest block first
    buddy.free(4, 2);
    expect(buddy.freePages).toBe(8);
  });
});

describe('errors', () => {
  it('free of a block that was not handed out, or with the wrong order, throws and changes nothing', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 64]], reserved: [[60, 4]], maxOrder: 3 });
    const a = buddy.alloc(2)!;
    const b = buddy.alloc(0)!;
    expect(a % 4).toBe(0);
    const before = { free: buddy.freePages, blocks: [...buddy.freeBlockList()] };
    const wrong: Array<[number, number]> = [
      [a, 0],
      [a, 1],
      [a, 3],
      [a + 1, 2], // a tail page
      [a + 1, 0],
      [b, 1],
      [b, 16], // orders past 15 must not alias a smaller order in the page byte
      [a, 18],
      [b, 0.5],
      [b, -1],
      [b, Number.NaN],
      [61, 0], // reserved
      [100, 0], // past the end of RAM
      [-1, 0],
      [b + 0.5, 0],
    ];
    const free = [...before.blocks][0]!;
    wrong.push([free[0], free[1]]); // a free block
    for (const [pfn, order] of wrong) {
      expect(() => buddy.free(pfn, order), `free(${pfn}, ${order})`).toThrow();
      expect(buddy.freePages).toBe(before.free);
      expect([...buddy.freeBlockList()]).toEqual(before.blocks);
      expect([buddy.isAllocated(a), buddy.isAllocated(a + 3), buddy.isAllocated(b)]).toEqual([true, true, true]);
    }
    buddy.free(a, 2);
    buddy.free(b, 0);
    expect(() => buddy.free(b, 0), 'double free').toThrow();
    expect(buddy.freePages).toBe(60);
  });

  it('alloc with an order past maxOrder (or not an order at all) throws RangeError', () => {
    const buddy = new BuddyAllocator({ ram: [[0, 64]], maxOrder: 3 });
    for (const order of [4, 10, 15, 16, -1, 0.5, Number.NaN, Infinity]) expect(() => buddy.alloc(order), `alloc(${order})`).toThrow(RangeError);
    expect(buddy.freePages).toBe(64);
    expect(buddy.alloc(3)).toBe(56);
  });

  it('rejects a maxOrder that does not fit the page byte', () => {
    for (const maxOrder of [-1, 16, 2.5]) expect(() => new BuddyAllocator({ ram: [[0, 8]], maxOrder })).toThrow(RangeError);
  });
});

describe('scale', () => {
  it('a 1 TiB guest (2^28 pages, maxOrder 10) boots, hands out thousands of blocks and takes them back', () => {
    const pages = 2 ** 28;
    const buddy = new BuddyAllocator({ ram: [[0, pages]], maxOrder: 10 });
    expect(buddy.managedPages).toBe(pages);
    expect(buddy.freeBlocks(10)).toBe(pages / 1024);
    const blocks: Live[] = [];
    for (let i = 0; i < 3000; i++) {
      for (const order of [0, 10]) {
        const pfn = buddy.alloc(order);
        expect(pfn).toBeDefined();
        blocks.push({ pfn: pfn!, order });
      }
    }
    expect(buddy.allocatedPages).toBe(3000 + 3000 * 1024);
    // Aligned, inside RAM, disjoint.
    const sorted = [...blocks].sort((x, y) => x.pfn - y.pfn);
    let end = 0;
    for (const { pfn, order } of sorted) {
      expect(pfn % 2 ** order).toBe(0);
      expect(pfn).toBeGreaterThanOrEqual(end);
      end = pfn + 2 ** order;
    }
    expect(end).toBeLessThanOrEqual(pages);
    for (let i = blocks.length - 1; i >= 0; i -= 2) buddy.free(blocks[i]!.pfn, blocks[i]!.order);
    for (let i = 0; i < blocks.length; i += 2) buddy.free(blocks[i]!.pfn, blocks[i]!.order);
    expect(buddy.freePages).toBe(pages);
    expect(buddy.freeBlocks(10)).toBe(pages / 1024);
    for (let order = 0; order < 10; order++) expect(buddy.freeBlocks(order)).toBe(0);
  });
});
