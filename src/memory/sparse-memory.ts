/** Guest RAM that stores only the pages that were written. */
import { ChunkedMemory, type Chunk } from './chunked-memory.js';
import { PAGE_SIZE, type RamRegion } from './guest-memory.js';

/**
 * Guest RAM that stores bytes only for pages that were written. Untouched (or discarded)
 * pages read as zero and cost nothing, so a 1 TiB guest costs what it touches.
 */
export class SparseMemory extends ChunkedMemory {
  private readonly pages = new Map<number, Chunk>();

  /** `regions` may be a single RAM size in bytes for one region at GPA 0. */
  constructor(regions: number | readonly RamRegion[]) {
    super(typeof regions === 'number' ? [{ gpa: 0, size: regions }] : regions);
  }

  /** Number of pages that hold bytes. */
  get residentPages(): number {
    return this.pages.size;
  }

  /** True when the page has backing bytes (it was written and not discarded since). */
  isResident(pfn: number): boolean {
    return this.pages.has(pfn);
  }

  protected chunkAt(gpa: number, forWrite: boolean): Chunk | undefined {
    const pfn = Math.floor(gpa / PAGE_SIZE);
    let page = this.pages.get(pfn);
    if (page === undefined && forWrite) {
      const bytes = new Uint8Array(PAGE_SIZE);
      page = { gpa: pfn * PAGE_SIZE, bytes, view: new DataView(bytes.buffer) };
      this.pages.set(pfn, page);
    }
    return page;
  }

  protected discardRange(gpa: number, length: number): void {
    const first = gpa / PAGE_SIZE;
    const count = length / PAGE_SIZE;
    if (count > this.pages.size) {
      // Cheaper to look at the resident pages than at every page of a huge range.
      for (const pfn of this.pages.keys()) if (pfn >= first && pfn < first + count) this.pages.delete(pfn);
    } else {
      for (let pfn = first; pfn < first + count; pfn++) this.pages.delete(pfn);
    }
  }
}
