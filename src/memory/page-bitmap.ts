import { nextSetBit, popcount32, setBits } from './bits.js';

/**
 * A set of page frame numbers as a bitmap: 32 pages per word, so range operations and counts
 * pay per word, and a summary with a bit per non-zero word, so finding the next page in the set
 * skips 1024 absent pages per summary bit (a hinted 1 TiB guest's bitmap is 8 M mostly empty
 * words). PFNs must be below `pageCount` (and below 2^32).
 */
export class PageBitmap {
  /** Bit i of word w is page 32·w + i. Read-only outside this class: writes keep the summary in step. */
  readonly words: Uint32Array;
  /** Bit i of summary word s is set exactly when word 32·s + i is non-zero. */
  readonly #summary: Uint32Array;
  #count = 0;

  constructor(readonly pageCount: number) {
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
    this.#summary = new Uint32Array(Math.ceil(this.words.length / 32));
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
    this.#summary[w >>> 5]! |= 1 << (w & 31);
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
    this.#noteWord(w);
    this.#count--;
    return true;
  }

  clear(): void {
    this.words.fill(0);
    this.#summary.fill(0);
    this.#count = 0;
  }

  /** Add pages [first, first + count); returns how many were not in the set. */
  addRange(first: number, count: number): number {
    return this.updateRange(first, count, true);
  }

  /** Remove pages [first, first + count); returns how many were in the set. */
  deleteRange(first: number, count: number): number {
    return this.updateRange(first, count, false);
  }

  private updateRange(first: number, count: number, set: boolean): number {
    const end = Math.min(first + count, this.pageCount);
    const words = this.words;
    const full = set ? 0xffffffff : 0;
    let changed = 0;
    for (let p = Math.max(0, first); p < end; ) {
      const w = p >>> 5;
      const bit = p & 31;
      if (bit === 0 && end - p >= 32) {
        // Whole words: no masks, and a word already as wanted costs one compare; an empty set
        // (a migration's setup marks all RAM) takes them as a block.
        const lastWord = end >>> 5;
        if (this.#count === 0) {
          if (set) words.fill(full, w, lastWord);
          changed += set ? (lastWord - w) * 32 : 0;
        } else {
          changed += set ? fillWords(words, w, lastWord) : clearWords(words, w, lastWord);
        }
        setBits(this.#summary, w, lastWord - 1, set);
        p = lastWord * 32;
        continue;
      }
      const span = Math.min(32 - bit, end - p);
      const mask = span === 32 ? 0xffffffff : ((1 << span) - 1) << bit;
      const word = words[w]!;
      const next = set ? word | mask : word & ~mask;
      changed += popcount32((word ^ next) >>> 0);
      words[w] = next;
      this.#noteWord(w);
      p += span;
    }
    this.#count += set ? changed : -changed;
    return changed;
  }

  /** OR `word` into word `index` (pages 32·index … 32·index + 31); returns how many pages were added. */
  addWord(index: number, word: number): number {
    const old = this.words[index]!;
    const added = popcount32((word & ~old) >>> 0);
    this.words[index] = old | word;
    this.#noteWord(index);
    this.#count += added;
    return added;
  }

  /** Remove every page set in `words` (same layout, e.g. a dirty log's), word by word. */
  subtractWords(words: Uint32Array): void {
    const n = Math.min(words.length, this.words.length);
    for (let w = 0; w < n; w++) {
      const drop = this.words[w]! & words[w]!;
      if (drop === 0) continue;
      this.words[w] = this.words[w]! & ~drop;
      this.#noteWord(w);
      this.#count -= popcount32(drop >>> 0);
    }
  }

  /** The first page in the set at or after `from`, or -1. Skips empty words by the summary. */
  nextSet(from: number): number {
    if (from >= this.pageCount) return -1;
    const w = from >>> 5;
    const word = this.words[w]! & (~0 << (from & 31));
    let pfn = w * 32 + (31 - Math.clz32(word & -word));
    if (word === 0) {
      const next = nextSetBit(this.#summary, w + 1);
      pfn = next < 0 ? -1 : nextSetBit(this.words, next * 32);
    }
    return pfn < this.pageCount ? pfn : -1;
  }

  /** The first page not in the set at or after `from`, or `limit` if all up to it are. Skips full words whole. */
  nextClear(from: number, limit: number): number {
    limit = Math.min(limit, this.pageCount);
    if (from >= limit) return limit;
    let w = from >>> 5;
    let word = ~this.words[w]! & (~0 << (from & 31));
    while (word === 0) {
      if (++w * 32 >= limit) return limit;
      word = ~this.words[w]!;
    }
    return Math.min(w * 32 + (31 - Math.clz32(word & -word)), limit);
  }

  /** The set as ascending runs [firstPfn, count], found word by word up to the last page in it. */
  runs(): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let left = this.#count;
    for (let start = left > 0 ? this.nextSet(0) : -1; start >= 0; ) {
      const end = this.nextClear(start, this.pageCount);
      out.push([start, end - start]);
      left -= end - start;
      start = left > 0 ? this.nextSet(end) : -1;
    }
    return out;
  }

  /** Word `w` was written: its summary bit follows whether it is empty. */
  #noteWord(w: number): void {
    if (this.words[w] === 0) this.#summary[w >>> 5]! &= ~(1 << (w & 31));
    else this.#summary[w >>> 5]! |= 1 << (w & 31);
  }
}

// Whole-word updates, kept apart from the class so that each loop is compiled on its own: a
// 1 TiB guest's bitmap is 8 M words, cleared batch by batch in its first round.

/** Set words [from, to) to all ones; returns how many bits were clear. */
function fillWords(words: Uint32Array, from: number, to: number): number {
  let added = 0;
  for (let i = from; i < to; i++) {
    const word = words[i]! | 0;
    if (word === -1) continue;
    added += 32 - popcount32(word);
    words[i] = -1;
  }
  return added;
}

/** Set words [from, to) to zero; returns how many bits were set. */
function clearWords(words: Uint32Array, from: number, to: number): number {
  let removed = 0;
  for (let i = from; i < to; i++) {
    const word = words[i]! | 0;
    if (word === 0) continue;
    removed += word === -1 ? 32 : popcount32(word);
    words[i] = 0;
  }
  return removed;
}
