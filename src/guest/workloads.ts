/** The workloads that run inside the simulated guest: idle, compile, hog, sanitize, written-then-freed. */
import { PAGE_SIZE } from '../memory/guest-memory.js';
import type { FreePolicy } from './buddy.js';
import type { GuestKernel } from './kernel.js';

const MiB = 1 << 20;

/** What runs inside the simulated guest. */
export interface Workload {
  readonly name: string;
  /** The free-time policy the guest kernel must run with for this workload, if it matters. */
  readonly freePolicy?: FreePolicy;
  /** Threads that keep a vCPU busy (compiler jobs, a busy server); 0 or absent for an idle guest. */
  readonly threads?: number;
  /** Boot and warm up: what the guest holds and has touched before anything is measured. */
  boot(kernel: GuestKernel): void;
  /** Advance `ms` milliseconds of simulated time. */
  step(kernel: GuestKernel, ms: number): void;
  /**
   * How many of the next steps of `ms` (counting at most `max`) will certainly do nothing but
   * pass: no write, no allocation, no free. The guest sleeps through those at once, as a tickless
   * kernel does. A workload that does not say is never quiet.
   */
  quietSteps?(ms: number, max: number): number;
  /**
   * Pages [first, end) that every step from now on writes within, and all it does: no
   * allocation, no free. Undefined when the workload cannot promise that. A page outside them
   * reads the same whenever it is read, so a migration may read past steps that only write there.
   */
  writeSpan?(): PageSpan | undefined;
}

/** Pages [first, end). */
export interface PageSpan {
  readonly first: number;
  readonly end: number;
}

/**
 * Turns a rate into whole pages per step, carrying the fraction so that the long-run rate is
 * exact whatever the step size.
 */
class PageRate {
  private carry = 0;
  constructor(private readonly bytesPerSecond: number) {}
  pages(ms: number): number {
    const exact = (this.bytesPerSecond * ms) / 1000 / PAGE_SIZE + this.carry;
    const whole = Math.floor(exact);
    this.carry = exact - whole;
    return whole;
  }
  /** How many of the next steps of `ms` (at most `max`) give no page: the same sums as {@link pages}, on a copy of the carry. */
  quietSteps(ms: number, max: number): number {
    let carry = this.carry;
    for (let n = 0; n < max; n++) {
      const exact = (this.bytesPerSecond * ms) / 1000 / PAGE_SIZE + carry;
      const whole = Math.floor(exact);
      if (whole > 0) return n;
      carry = exact - whole;
    }
    return max;
  }
}

/** A set of order-0 pages a workload owns, written as it goes. */
class PagePool {
  readonly pfns: number[] = [];
  /**
   * Allocate and fill up to `count` pages, a `zeroedFraction` of them with zeros (zeroed
   * buffers, page tables, calloc'd heap), the rest with data; returns how many it got.
   */
  grow(kernel: GuestKernel, count: number, zeroedFraction = 0): number {
    let got = 0;
    for (; got < count; got++) {
      const pfn = kernel.allocPages(0);
      if (pfn === undefined) break;
      if (zeroedFraction > 0 && kernel.random.chance(zeroedFraction)) kernel.zeroPage(pfn);
      else kernel.writePage(pfn);
      this.pfns.push(pfn);
    }
    return got;
  }
  /** Rewrite `count` random pages of the pool. */
  rewrite(kernel: GuestKernel, count: number): void {
    if (this.pfns.length === 0) return;
    for (let i = 0; i < count; i++) kernel.writePage(this.pfns[kernel.random.int(0, this.pfns.length - 1)]!);
  }
  /** The smallest span that holds every page of the pool. */
  span(): PageSpan {
    let first = Number.POSITIVE_INFINITY;
    let last = -1;
    for (const pfn of this.pfns) {
      first = Math.min(first, pfn);
      last = Math.max(last, pfn);
    }
    return last < 0 ? { first: 0, end: 0 } : { first, end: last + 1 };
  }
  /** Free the oldest `count` pages (or all). */
  shrink(kernel: GuestKernel, count = this.pfns.length): void {
    for (const pfn of this.pfns.splice(0, count)) kernel.freePages(pfn, 0);
  }
}

/**
 * Defaults of an idle Debian guest after boot. `residentBytes`: processes, slab and page cache
 * that stay in use (a minimal Debian 12 server reports a few hundred MiB used plus cache);
 * `bootChurnBytes`: memory touched during boot and freed again (initramfs unpacking, early page
 * cache), which keeps stale, non-zero data in free pages; `dirtyBytesPerSec`: background
 * writes (timers, logging, daemons) at roughly 1 MiB/s.
 */
export interface IdleParams {
  readonly residentBytes: number;
  readonly bootChurnBytes: number;
  readonly dirtyBytesPerSec: number;
  /** Share of resident pages that hold zeros while in use (zeroed buffers, page tables). */
  readonly zeroedFraction: number;
}

/** An idle guest's defaults: a small resident set, a little boot churn, 1 MiB/s of background writes. */
export const IDLE_DEFAULTS: IdleParams = { residentBytes: 192 * MiB, bootChurnBytes: 64 * MiB, dirtyBytesPerSec: 1 * MiB, zeroedFraction: 0.05 };

/**
 * An idle guest: boot, then a small steady dirty rate over what it holds. A small guest
 * (under 4 GiB) holds proportionally less: the defaults scale down with the pages it has.
 */
export function idle(params: Partial<IdleParams> = {}): Workload {
  const resident = new PagePool();
  const dirty = new PageRate(params.dirtyBytesPerSec ?? IDLE_DEFAULTS.dirtyBytesPerSec);
  let span: PageSpan | undefined; // from boot on, its steps only rewrite what it holds
  return {
    name: 'idle',
    boot(kernel) {
      const managedBytes = kernel.pages.managedPages * PAGE_SIZE;
      const scaled = (key: 'residentBytes' | 'bootChurnBytes'): number => params[key] ?? Math.min(IDLE_DEFAULTS[key], Math.floor((managedBytes * IDLE_DEFAULTS[key]) / (4096 * MiB)));
      const churn = new PagePool();
      churn.grow(kernel, Math.floor(scaled('bootChurnBytes') / PAGE_SIZE));
      resident.grow(kernel, Math.floor(scaled('residentBytes') / PAGE_SIZE), params.zeroedFraction ?? IDLE_DEFAULTS.zeroedFraction);
      churn.shrink(kernel);
      span = resident.span();
    },
    step(kernel, ms) {
      resident.rewrite(kernel, dirty.pages(ms));
    },
    quietSteps(ms, max) {
      return resident.pfns.length === 0 ? max : dirty.quietSteps(ms, max);
    },
    writeSpan: () => span,
  };
}

/** An idle guest that wrote `writtenBytes` of data and freed it (a job that ended, a dropped cache). */
export interface FreedParams extends IdleParams {
  readonly writtenBytes: number;
}

/** The freed-memory case's defaults: the idle guest's, after writing and freeing 256 MiB. */
export const FREED_DEFAULTS: FreedParams = { ...IDLE_DEFAULTS, writtenBytes: 256 * MiB };

/**
 * The classic "freed memory" guest: boot, write `writtenBytes` of non-zero data, free it all
 * (and drop the caches), then idle. The freed pages keep their data, so without hints every one
 * of them goes whole.
 */
export function writtenThenFreed(params: Partial<FreedParams> = {}): Workload {
  const base = idle(params);
  const written = params.writtenBytes ?? FREED_DEFAULTS.writtenBytes;
  return {
    name: 'written-then-freed',
    boot(kernel) {
      base.boot(kernel);
      const pool = new PagePool();
      pool.grow(kernel, Math.floor(written / PAGE_SIZE));
      pool.shrink(kernel);
    },
    step: (kernel, ms) => base.step(kernel, ms),
    quietSteps: (ms, max) => base.quietSteps!(ms, max),
    writeSpan: () => base.writeSpan!(),
  };
}

/**
 * A `make -j4` kernel build. Each job is a compiler process: it faults in and writes its
 * anonymous memory (`jobBytes`, cc1's RSS of 100–300 MiB) at `jobWriteBytesPerSec`, keeps
 * rewriting it, and exits after `jobMs` (a translation unit takes a few seconds), freeing it
 * all; every job leaves `cacheBytesPerJob` of page cache (sources, headers, objects), evicted
 * oldest first beyond `maxCacheBytes`.
 */
export interface CompileParams extends IdleParams {
  readonly jobs: number;
  readonly jobBytes: number;
  readonly jobMs: number;
  readonly jobWriteBytesPerSec: number;
  readonly cacheBytesPerJob: number;
  readonly maxCacheBytes: number;
  /** Page cache the build already holds when measuring starts (sources and headers read so far). */
  readonly warmCacheBytes: number;
}

/** A `make -j4` kernel build's defaults. */
export const COMPILE_DEFAULTS: CompileParams = {
  ...IDLE_DEFAULTS,
  jobs: 4,
  jobBytes: 160 * MiB,
  jobMs: 3000,
  jobWriteBytesPerSec: 96 * MiB,
  cacheBytesPerJob: 4 * MiB,
  maxCacheBytes: 2048 * MiB,
  warmCacheBytes: 512 * MiB,
};

/** A parallel build: short-lived processes that allocate, write and free, and a growing cache. */
export function compile(params: Partial<CompileParams> = {}, name = 'compile', freePolicy?: FreePolicy): Workload {
  const p = { ...COMPILE_DEFAULTS, ...params };
  const base = idle(params);
  const cache = new PagePool();
  const jobs = Array.from({ length: p.jobs }, (_, i) => ({
    pool: new PagePool(),
    rate: new PageRate(p.jobWriteBytesPerSec),
    // Jobs start staggered, as make starts them when earlier ones finish.
    ageMs: (i * p.jobMs) / p.jobs,
  }));
  const jobPages = Math.floor(p.jobBytes / PAGE_SIZE);
  return {
    name,
    ...(freePolicy ? { freePolicy } : {}),
    threads: p.jobs,
    boot(kernel) {
      base.boot(kernel);
      // Like the idle defaults, the default warm cache shrinks with guests under 4 GiB.
      const managedBytes = kernel.pages.managedPages * PAGE_SIZE;
      const warm = params.warmCacheBytes ?? Math.min(p.warmCacheBytes, Math.floor((managedBytes * p.warmCacheBytes) / (4096 * MiB)));
      cache.grow(kernel, Math.floor(warm / PAGE_SIZE));
      // Page cache is reclaimable: under memory pressure the oldest goes first.
      kernel.registerShrinker((wanted) => {
        const n = Math.min(wanted, cache.pfns.length);
        cache.shrink(kernel, n);
        return n;
      });
    },
    step(kernel, ms) {
      base.step(kernel, ms);
      for (const job of jobs) {
        job.ageMs += ms;
        if (job.ageMs >= p.jobMs) {
          job.pool.shrink(kernel);
          cache.grow(kernel, Math.floor(p.cacheBytesPerJob / PAGE_SIZE));
          const excess = cache.pfns.length - Math.floor(p.maxCacheBytes / PAGE_SIZE);
          if (excess > 0) cache.shrink(kernel, excess);
          job.ageMs -= p.jobMs;
        }
        let writes = job.rate.pages(ms);
        const fresh = Math.min(writes, jobPages - job.pool.pfns.length);
        writes -= job.pool.grow(kernel, fresh);
        job.pool.rewrite(kernel, writes);
      }
    },
  };
}

/** A memory hog: a large working set rewritten continuously (a database, an in-memory cache). */
export interface HogParams {
  readonly workingSetBytes: number;
  readonly dirtyBytesPerSec: number;
}

/** The hog's defaults: a 2 GiB working set rewritten at 512 MiB/s. */
export const HOG_DEFAULTS: HogParams = { workingSetBytes: 2048 * MiB, dirtyBytesPerSec: 512 * MiB };

/** A memory hog: rewrites a working set at a fixed rate, faster than a link may carry it. */
export function hog(params: Partial<HogParams> = {}): Workload {
  const p = { ...HOG_DEFAULTS, ...params };
  const set = new PagePool();
  const dirty = new PageRate(p.dirtyBytesPerSec);
  let span: PageSpan | undefined;
  return {
    name: 'hog',
    threads: 1,
    boot(kernel) {
      set.grow(kernel, Math.floor(p.workingSetBytes / PAGE_SIZE));
      span = set.span();
    },
    step(kernel, ms) {
      set.rewrite(kernel, dirty.pages(ms));
    },
    writeSpan: () => span,
  };
}

/** The compile workload on a guest that zeroes pages when they are freed (init_on_free=1). */
export function sanitize(params: Partial<CompileParams> = {}): Workload {
  return compile(params, 'sanitize', 'zero');
}
