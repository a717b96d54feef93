/** The simulated guest kernel: the buddy allocator, memory pressure (shrinkers, OOM), and pages whose contents it can verify. */
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { LazyU32Array } from '../memory/compact/lazy-array.js';
import { BuddyAllocator, type FreePolicy } from './buddy.js';
import { holdsPatternPage, writePatternPage } from '../memory/described-pages.js';
import { Random } from './random.js';

export interface GuestKernelOptions {
  readonly memory: GuestMemory;
  /** Seeds page contents and the kernel's random stream. */
  readonly seed: number;
  /** Largest buddy order (Linux's MAX_PAGE_ORDER); hint blocks are this order. */
  readonly maxOrder?: number;
  readonly freePolicy?: FreePolicy;
  /** Zero pages on allocation (init_on_alloc=1, the default in Debian's kernels). */
  readonly initOnAlloc?: boolean;
  /**
   * Pages the kernel keeps for itself from boot: firmware, the kernel image, the memory map
   * ([firstPfn, count) ranges). They hold data and are verified like any page in use.
   */
  readonly reserved?: ReadonlyArray<readonly [number, number]>;
}

/** Returns pages to the allocator under memory pressure; says how many it freed. */
export type Shrinker = (pagesWanted: number) => number;
/** Called when an allocation fails after shrinking; says how many pages it freed. */
export type OomNotifier = () => number;

/** What the guest kernel did since boot: pages written, failed allocations, pages the shrinker and the OOM notifier freed. */
export interface KernelCounters {
  pagesWritten: number;
  allocFailures: number;
  shrunkPages: number;
  oomFreedPages: number;
}

/** Bits of a page's content version: the version counter wraps below this. */
const VERSION_LIMIT = 1 << 30;
/** The version of a page the kernel zeroed and expects to read as zero. */
const ZERO_VERSION = VERSION_LIMIT;

/**
 * The simulated guest kernel's memory side: a buddy allocator over RAM, the reclaim path
 * (shrinkers, then OOM notifiers) that Linux runs when an allocation fails, and page contents
 * that can be checked: every page the kernel writes holds a pattern derived from (seed, pfn,
 * version), so {@link verify} can tell any page in use that does not hold what was written.
 */
export class GuestKernel {
  readonly memory: GuestMemory;
  readonly pages: BuddyAllocator;
  readonly random: Random;
  readonly seed: number;
  readonly counters: KernelCounters = { pagesWritten: 0, allocFailures: 0, shrunkPages: 0, oomFreedPages: 0 };
  /** Expected content version of each page in use that the kernel wrote; 0 when none. */
  private readonly versions: LazyU32Array;
  private readonly shrinkers: Shrinker[] = [];
  private readonly oomNotifiers: OomNotifier[] = [];

  constructor(options: GuestKernelOptions) {
    this.memory = options.memory;
    this.seed = options.seed >>> 0;
    this.random = new Random(options.seed);
    const ram = this.memory.regions.map((r) => [r.gpa / PAGE_SIZE, r.size / PAGE_SIZE] as const);
    const reserved = options.reserved ?? [];
    this.pages = new BuddyAllocator({
      ram,
      reserved,
      maxOrder: options.maxOrder ?? 10,
      freePolicy: options.freePolicy ?? 'none',
      initOnAlloc: options.initOnAlloc ?? true,
      contents: { fill: (pfn, count, byte) => this.memory.fill(pfn * PAGE_SIZE, count * PAGE_SIZE, byte) },
    });
    this.versions = new LazyU32Array(this.memory.end / PAGE_SIZE);
    // Boot: the kernel's own pages get their data.
    for (const [first, count] of reserved) for (let pfn = first; pfn < first + count; pfn++) this.writePage(pfn);
  }

  registerShrinker(shrinker: Shrinker): void {
    this.shrinkers.push(shrinker);
  }

  registerOomNotifier(notifier: OomNotifier): void {
    this.oomNotifiers.push(notifier);
  }

  /**
   * Allocate 2^order pages for the kernel or a workload. When the allocator is out of blocks,
   * shrinkers run (the balloon gives hinted blocks back), then OOM notifiers (deflate on OOM).
   */
  allocPages(order: number): number | undefined {
    let pfn = this.pages.alloc(order);
    for (const shrink of this.shrinkers) {
      if (pfn !== undefined) break;
      this.counters.shrunkPages += shrink(1 << order);
      pfn = this.pages.alloc(order);
    }
    for (const notify of this.oomNotifiers) {
      if (pfn !== undefined) break;
      this.counters.oomFreedPages += notify();
      pfn = this.pages.alloc(order);
    }
    if (pfn === undefined) this.counters.allocFailures++;
    return pfn;
  }

  /** Free a block from {@link allocPages}; its contents are no longer the kernel's to check. */
  freePages(pfn: number, order: number): void {
    for (let p = pfn; p < pfn + (1 << order); p++) this.versions.set(p, 0);
    this.pages.free(pfn, order);
  }

  /** The guest writes page `pfn` (which it owns): new content, a new version. */
  writePage(pfn: number): void {
    const version = (this.versions.get(pfn) % (VERSION_LIMIT - 1)) + 1;
    this.versions.set(pfn, version);
    writePatternPage(this.memory, this.seed, pfn, version);
    this.counters.pagesWritten++;
  }

  /** The guest zeroes page `pfn` (which it owns) and keeps it in use: a zeroed buffer, a page table. */
  zeroPage(pfn: number): void {
    this.versions.set(pfn, ZERO_VERSION);
    this.memory.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0);
    this.counters.pagesWritten++;
  }

  /** The content version the kernel last wrote to `pfn` (0: none it can check). */
  versionOf(pfn: number): number {
    return this.versions.get(pfn);
  }

  /** Pages in use whose contents differ from what the kernel wrote (empty when all is well). */
  verify(): number[] {
    const wrong: number[] = [];
    this.versions.forEachNonZero((pfn, version) => {
      const right = version === ZERO_VERSION ? this.memory.isZeroPage(pfn) : holdsPatternPage(this.memory, this.seed, pfn, version);
      if (!right) wrong.push(pfn);
    });
    return wrong;
  }
}
