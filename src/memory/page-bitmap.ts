import { popcount32 } from './dirty-log.js';

/**
 * A set of page frame numbers as a bitmap: 32 pages per word, so range operations and counts
 * pay per word. PFNs must be below `pageCount` (and below 2^32).
 */
export class PageBitmap {
  readonly words: Uint32Array;
  #count = 0;

  constructor(readonly pageCount: number) {
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
  }

  /** Number of pages in the set. */
  get count(): number {
    return this.#count;
  }

  has(pfn: number): boolean {
    return pfn >= 0 && pfn < this.pageCount && ((this.words[pfn >>> 5]! >>> (pfn & 31)) & 1) === 1;
  }

  /** Add a page; returns true when it was not in the set. */
  add(pfn: number): boolean {
    const w = pfn >>> 5;
    const bit = 1 << (pfn & 31);
    const word = this.words[w]!;
    if (word & bit) return false;
    this.words[w] = word | bit;
    this.#count++;
    return true;
  }

  /** Remove a page; returns true when it was in the set. */
  delete(pfn: number): boolean {
    const w = pfn >>> 5;
    const bit = 1 << (pfn & 31);
    const word = this.words[w]!;
    if (!(word & bit)) return false;
    this.words[w] = word & ~bit;
    this.#count--;
    return true;
  }

  clear(): void {
    this.words.fill(0);
    this.#count = 0;
  }

  /** The set as ascending runs [firstPfn, count]. */
  runs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let start = -1;
    for (let w = 0; w < this.words.length; w++) {
      const word = this.words[w]!;
      if (word === 0 && start < 0) continue;
      if (word === 0xffffffff && start >= 0) continue;
      for (let b = 0; b < 32; b++) {
        const set = ((word >>> b) & 1) === 1;
        if (set && start < 0) start = w * 32 + b;
        else if (!set && start >= 0) {
          out.push([start, w * 32 + b - start]);
          start = -1;
        }
      }
    }
    if (start >= 0) out.push([start, this.pageCount - start]);
    return out;
  }

  /** Recount after bulk changes to `words`. */
  recount(): number {
    let n = 0;
    for (const word of this.words) n += popcount32(word);
    this.#count = n;
    return n;
  }
}
