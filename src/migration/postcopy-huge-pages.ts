/** Host huge pages over guest RAM, as postcopy moves them: which 4 KiB pages make up each, and which of those are RAM. */
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';

/** The huge pages of one RAM layout (source and destination share it). */
export class HugePages {
  /** 4 KiB pages per huge page. */
  readonly pagesPerHuge: number;
  /** Huge pages up to the end of RAM. */
  readonly count: number;

  constructor(
    private readonly memory: GuestMemory,
    readonly hugePageBytes: number,
  ) {
    const huge = hugePageBytes;
    if (!Number.isInteger(huge) || huge < PAGE_SIZE || (huge & (huge - 1)) !== 0) throw new RangeError(`huge page size ${huge}: expected a power of two from 4096`);
    this.pagesPerHuge = huge / PAGE_SIZE;
    this.count = Math.ceil(memory.end / huge);
  }

  /** The huge page that holds `pfn`. */
  of(pfn: number): number {
    return Math.floor(pfn / this.pagesPerHuge);
  }

  /** One past the last RAM page of huge page `h`. */
  end(h: number): number {
    return Math.min((h + 1) * this.pagesPerHuge, this.memory.end / PAGE_SIZE);
  }

  /**
   * The first run of RAM pages in [from, end), or undefined when there is none: a huge page
   * may straddle a hole between RAM regions, whose pages are neither sent nor awaited.
   */
  ramRun(from: number, end: number): { first: number; end: number } | undefined {
    for (const r of this.memory.regions) {
      const first = Math.max(from, r.gpa / PAGE_SIZE);
      const last = Math.min(end, (r.gpa + r.size) / PAGE_SIZE);
      if (first < last) return { first, end: last };
    }
    return undefined;
  }

  /** How many RAM pages huge page `h` has. */
  ramPages(h: number): number {
    let pages = 0;
    const end = this.end(h);
    for (let run = this.ramRun(h * this.pagesPerHuge, end); run !== undefined; run = this.ramRun(run.end, end)) pages += run.end - run.first;
    return pages;
  }

  /** Whether pages [first, last) are all RAM. */
  isRam(first: number, last: number): boolean {
    return this.memory.contains(first * PAGE_SIZE, (last - first) * PAGE_SIZE);
  }
}
