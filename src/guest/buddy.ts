/** What happens to a page's contents when it is freed (Linux: none, init_on_free, page poisoning). */
export type FreePolicy = 'none' | 'zero' | 'poison';

/** Linux's PAGE_POISON byte (include/linux/poison.h). */
export const PAGE_POISON_BYTE = 0xaa;

/** How the allocator changes page contents; the kernel backs it with guest memory. */
export interface PageContents {
  fill(firstPfn: number, count: number, byte: number): void;
}

/** The RAM a buddy allocator manages and how it treats the pages it hands out and takes back. */
export interface BuddyOptions {
  /** Managed page frames: [firstPfn, count) ranges of RAM (holes between them). */
  readonly ram: ReadonlyArray<readonly [number, number]>;
  /** Ranges inside RAM that are never handed out (firmware, kernel image): [firstPfn, count). */
  readonly reserved?: ReadonlyArray<readonly [number, number]>;
  /** Largest block order (Linux's MAX_PAGE_ORDER, 10 by default: 4 MiB blocks). */
  readonly maxOrder?: number;
  readonly freePolicy?: FreePolicy;
  /** Zero every page as it is allocated (init_on_alloc=1, Debian's default). */
  readonly initOnAlloc?: boolean;
  readonly contents?: PageContents;
}

// Per-page state, one byte: the kind in the high nibble, a block's order in the low one. Only
// a block's head page says what the block is, as in Linux: FREE_HEAD, REPORTED_HEAD once free
// page reporting reported it (PageReported), or USED_HEAD. Every other managed page is a
// TAIL, whatever its block, so allocating, freeing and merging touch heads only.
const KIND_SHIFT = 4;
const ORDER_MASK = 0x0f;
const Kind = { NONE: 0, FREE_HEAD: 1, TAIL: 2, USED_HEAD: 3, RESERVED: 5, REPORTED_HEAD: 6 } as const;
const tag = (kind: number, order = 0): number => (kind << KIND_SHIFT) | order;

/**
 * A binary buddy allocator over page frame numbers, like Linux's: free lists per order,
 * blocks naturally aligned to their size, split on allocation and merged with their buddy on
 * free. Per-page state is one byte in a typed array and free lists are stacks of block heads
 * with lazy deletion, so a 1 TiB guest (2^28 pages) costs 256 MiB and boots in a moment.
 */
export class BuddyAllocator {
  readonly maxOrder: number;
  readonly freePolicy: FreePolicy;
  readonly initOnAlloc: boolean;
  /** Pages the allocator manages (RAM minus reserved). */
  readonly managedPages: number;
  private readonly info: Uint8Array;
  /** Per order: heads of free blocks, possibly with stale entries (checked against `info`). */
  private readonly stacks: number[][];
  /**
   * Free blocks that free page reporting reported, per order: Linux puts them at the tail of
   * the free list, so they are handed out last and a reporting pass never walks them again.
   */
  private readonly reportedStacks: number[][];
  /** Free blocks per order, reported or not. */
  private readonly freeBlockCount: number[];
  /** Free blocks per order that free page reporting has reported. */
  private readonly reportedBlockCount: number[];
  private freeCount = 0;
  private readonly contents: PageContents | undefined;
  /**
   * The lowest page ever handed out. Blocks go out highest first, and freed ones are handed
   * out again before fresh ones, so the pages from here up are the ones the guest has touched
   * and the host has had to back; below lie pages nothing ever wrote since boot.
   */
  private touchedFrom: number;
  /** Pages of the last block {@link alloc} handed out that had never been handed out before. */
  lastAllocFreshPages = 0;

  constructor(options: BuddyOptions) {
    this.maxOrder = options.maxOrder ?? 10;
    if (!Number.isInteger(this.maxOrder) || this.maxOrder < 0 || this.maxOrder > ORDER_MASK) throw new RangeError(`max order ${this.maxOrder} is not in 0..15`);
    this.freePolicy = options.freePolicy ?? 'none';
    this.initOnAlloc = options.initOnAlloc ?? false;
    this.contents = options.contents;
    const end = Math.max(0, ...options.ram.map(([first, count]) => first + count));
    this.info = new Uint8Array(end);
    this.stacks = Array.from({ length: this.maxOrder + 1 }, () => []);
    this.reportedStacks = Array.from({ length: this.maxOrder + 1 }, () => []);
    this.freeBlockCount = new Array<number>(this.maxOrder + 1).fill(0);
    this.reportedBlockCount = new Array<number>(this.maxOrder + 1).fill(0);

    for (const [first, count] of options.ram) this.info.fill(tag(Kind.TAIL), first, first + count);
    for (const [first, count] of options.reserved ?? []) this.info.fill(tag(Kind.RESERVED), first, Math.min(first + count, end));
    let managed = 0;
    // Hand out every maximal free run as the largest aligned blocks it holds (memblock_free_all).
    for (let pfn = 0; pfn < end; ) {
      if (this.info[pfn] !== tag(Kind.TAIL)) {
        pfn++;
        continue;
      }
      let runEnd = pfn;
      while (runEnd < end && this.info[runEnd] === tag(Kind.TAIL)) runEnd++;
      managed += runEnd - pfn;
      for (let at = pfn; at < runEnd; ) {
        let order = this.maxOrder;
        while (order > 0 && (at % (1 << order) !== 0 || at + (1 << order) > runEnd)) order--;
        this.addFree(at, order);
        // Memory handed to the allocator at boot is freed like any other (free_pages_prepare).
        if (this.freePolicy === 'poison') this.contents?.fill(at, 1 << order, PAGE_POISON_BYTE);
        at += 1 << order;
      }
      pfn = runEnd;
    }
    this.managedPages = managed;
    this.touchedFrom = end;
    // The stacks now hold each order's blocks in address order, so the highest comes off
    // first: a freshly booted Linux guest's allocations land at the top of its RAM, just below
    // the memory map (a dump of the QEMU calibration guest's RAM shows its page cache and slab
    // there, and nothing between the kernel image and them; calibration/README.md).
  }

  get freePages(): number {
    return this.freeCount;
  }

  get allocatedPages(): number {
    return this.managedPages - this.freeCount;
  }

  /** Number of free blocks of exactly `order`. */
  freeBlocks(order: number): number {
    return this.freeBlockCount[order] ?? 0;
  }

  /** True when `pfn` lies in a free block. */
  isFree(pfn: number): boolean {
    const kind = this.blockOf(pfn) >> KIND_SHIFT;
    return kind === Kind.FREE_HEAD || kind === Kind.REPORTED_HEAD;
  }

  /** True when `pfn` lies in an allocated block. */
  isAllocated(pfn: number): boolean {
    return this.blockOf(pfn) >> KIND_SHIFT === Kind.USED_HEAD;
  }

  /** Allocate a naturally aligned block of 2^order pages; undefined when none is free. */
  alloc(order: number): number | undefined {
    if (!Number.isInteger(order) || order < 0 || order > this.maxOrder) throw new RangeError(`order ${order} is not in 0..${this.maxOrder}`);
    let found = -1;
    let k = order;
    for (; k <= this.maxOrder; k++) {
      found = this.popFree(k);
      if (found >= 0) break;
    }
    if (found < 0) return undefined;
    // Split: keep the lower half, free the upper half one order down (expand()).
    while (k > order) {
      k--;
      this.addFree(found + (1 << k), k);
    }
    this.info[found] = tag(Kind.USED_HEAD, order);
    this.lastAllocFreshPages = Math.max(0, Math.min(1 << order, this.touchedFrom - found));
    this.touchedFrom = Math.min(this.touchedFrom, found);
    if (this.initOnAlloc) this.contents?.fill(found, 1 << order, 0);
    return found;
  }

  /** Free a block that {@link alloc} returned, with the same order. Throws on a kernel bug. */
  free(pfn: number, order: number): void {
    if (!this.isUsedHead(pfn, order)) {
      throw new Error(`free of pfn ${pfn} order ${order}: not an allocated block of that order`);
    }
    const size = 1 << order;
    if (this.freePolicy !== 'none') this.contents?.fill(pfn, size, this.freePolicy === 'zero' ? 0 : PAGE_POISON_BYTE);
    this.mergeFree(pfn, order, false);
  }

  /** Every free block as [head pfn, order], in no particular order (for tests and stats). */
  *freeBlockList(): Generator<[number, number]> {
    for (let pfn = 0; pfn < this.info.length; pfn++) {
      const v = this.info[pfn]!;
      if (v >> KIND_SHIFT === Kind.FREE_HEAD || v >> KIND_SHIFT === Kind.REPORTED_HEAD) yield [pfn, v & ORDER_MASK];
    }
  }

  /**
   * Free page reporting: take up to `max` free blocks of order ≥ `minOrder` that were not
   * reported yet out of the free lists, untouched (no init_on_alloc), as [head, order].
   */
  isolateUnreported(minOrder: number, max: number): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (let order = this.maxOrder; order >= minOrder; order--) {
      while (out.length < max) {
        // Reported blocks live on their own stacks: every live block on these is unreported.
        const head = this.popLive(order, false);
        if (head < 0) break;
        this.info[head] = tag(Kind.USED_HEAD, order);
        out.push([head, order]);
      }
    }
    return out;
  }

  /** Put an isolated block back after the device acknowledged it, marked reported, contents kept. */
  putBackReported(head: number, order: number): void {
    if (!this.isUsedHead(head, order)) throw new Error(`put back of pfn ${head} order ${order}: not an isolated block`);
    // Like __putback_isolated_page, the block merges with a free buddy; only a block that
    // stayed as it was counts as reported (page_reporting_drain).
    this.mergeFree(head, order, true);
  }

  /** Free blocks of order ≥ `minOrder` not reported yet. */
  unreportedBlocks(minOrder: number): number {
    let n = 0;
    for (let order = minOrder; order <= this.maxOrder; order++) n += this.freeBlockCount[order]! - this.reportedBlockCount[order]!;
    return n;
  }

  /** The head of an allocated (or isolated) block of exactly `order`; orders past the maximum alias in the tag byte. */
  private isUsedHead(pfn: number, order: number): boolean {
    return Number.isInteger(order) && order >= 0 && order <= this.maxOrder && this.info[pfn] === tag(Kind.USED_HEAD, order);
  }

  /**
   * The head tag of the block that holds `pfn`, or the page's own tag outside blocks (a hole, a
   * reserved page). The block's head is the nearest aligned head whose order reaches `pfn`.
   */
  private blockOf(pfn: number): number {
    const own = this.info[pfn] ?? tag(Kind.NONE);
    if (own !== tag(Kind.TAIL)) return own;
    for (let order = 1; order <= this.maxOrder; order++) {
      // Only heads carry an order: a tail, a reserved page or a hole is order 0.
      const at = this.info[pfn - (pfn % (1 << order))]!;
      if ((at & ORDER_MASK) >= order) return at;
    }
    return own;
  }

  /**
   * Return a used block to the free lists, merging with its buddy while that is a free block
   * of the same order (__free_one_page). Returns the order of the resulting free block.
   */
  private mergeFree(pfn: number, order: number, reported: boolean): number {
    const from = order;
    this.info[pfn] = tag(Kind.TAIL);
    while (order < this.maxOrder) {
      const buddy = pfn ^ (1 << order);
      const buddyTag = this.info[buddy];
      // A reported buddy merges too, and the larger block is not reported (it was never sent whole).
      if (buddyTag === tag(Kind.REPORTED_HEAD, order)) this.reportedBlockCount[order]!--;
      else if (buddyTag !== tag(Kind.FREE_HEAD, order)) break;
      this.info[buddy] = tag(Kind.TAIL);
      this.freeBlockCount[order]!--;
      this.freeCount -= 1 << order;
      pfn = Math.min(pfn, buddy);
      order++;
    }
    this.addFree(pfn, order, reported && order === from);
    return order;
  }

  private addFree(pfn: number, order: number, reported = false): void {
    const head = tag(reported ? Kind.REPORTED_HEAD : Kind.FREE_HEAD, order);
    this.info[pfn] = head;
    const stacks = reported ? this.reportedStacks : this.stacks;
    const stack = stacks[order]!;
    stack.push(pfn);
    this.freeBlockCount[order]!++;
    if (reported) this.reportedBlockCount[order]!++;
    this.freeCount += 1 << order;
    // Drop stale entries once they outnumber live ones, so stacks stay proportional.
    if (stack.length > 2 * this.freeBlockCount[order]! + 1024) stacks[order] = [...new Set(stack.filter((at) => this.info[at] === head))];
  }

  /** Take a live free block of exactly `order` off the free lists, or -1. */
  private popFree(order: number): number {
    // Unreported blocks first; reported ones, at the tail of Linux's free list, last.
    const head = this.popLive(order, false);
    return head >= 0 ? head : this.popLive(order, true);
  }

  /** Pop stale entries off the (reported or unreported) stack of `order` up to a live free block, and take that one; or -1. */
  private popLive(order: number, reported: boolean): number {
    const stack = (reported ? this.reportedStacks : this.stacks)[order]!;
    const want = tag(reported ? Kind.REPORTED_HEAD : Kind.FREE_HEAD, order);
    while (stack.length > 0) {
      const head = stack.pop()!;
      if (this.info[head] !== want) continue;
      this.info[head] = tag(Kind.TAIL);
      if (reported) this.reportedBlockCount[order]!--;
      this.freeBlockCount[order]!--;
      this.freeCount -= 1 << order;
      return head;
    }
    return -1;
  }
}
