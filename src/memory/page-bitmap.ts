/** A set of page frame numbers as a bitmap with a summary level: the migration's dirty bitmap. */
import { nextSetBit, popcount32, setBits } from './bits.js';

/** Words per block: one summary word's worth, 1024 pages. */
const BLOCK_WORDS = 32;

/**
 * A set of page frame numbers as a bitmap: 32 pages per word, so range operations and counts
 * pay per word, and a summary with a bit per non-zero word, so finding the next page in the set
 * skips 1024 absent pages per summary bit (a hinted 1 TiB guest's bitmap is 8 M mostly empty
 * words). A block of 1024 pages that a range fills whole is only marked full, so that marking
 * all of RAM dirty, and clearing it again block by block, costs the summary and not the words.
 * PFNs must be below `pageCount` (and below 2^32).
 */
export class PageBitmap {
  /** Bit i of word w is page 32·w + i — except in full blocks, whose words are kept at zero. */
  readonly #words: Uint32Array;
  /** Bit i of summary word s is set exactly when word 32·s + i holds a page of the set. */
  readonly #summary: Uint32Array;
  /** Bit i of full word f is set when block 32·f + i (words 32·(32·f + i) on) holds all its pages. */
  readonly #full: Uint32Array;
  #count = 0;

  constructor(readonly pageCount: number) {
    this.#words = new Uint32Array(Math.ceil(pageCount / 32));
    this.#summary = new Uint32Array(Math.ceil(this.#words.length / BLOCK_WORDS));
    this.#full = new Uint32Array(Math.ceil(this.#summary.length / 32));
  }

  /** Number of pages in the set. */
  get count(): number {
    return this.#count;
  }

  has(pfn: number): boolean {
    return pfn >= 0 && pfn < this.pageCount && ((this.#word(pfn >>> 5) >>> (pfn & 31)) & 1) === 1;
  }

  /** Add a page; returns true when it was not in the set. */
  add(pfn: number): boolean {
    const w = pfn >>> 5;
    if (this.#isFull(w >>> 5)) return false;
    const bit = 1 << (pfn & 31);
    const word = this.#words[w]!;
    if (word & bit) return false;
    this.#words[w] = word | bit;
    this.#summary[w >>> 5]! |= 1 << (w & 31);
    this.#count++;
    return true;
  }

  /** Remove a page; returns true when it was in the set. */
  delete(pfn: number): boolean {
    const w = pfn >>> 5;
    this.#open(w >>> 5);
    const bit = 1 << (pfn & 31);
    const word = this.#words[w]!;
    if (!(word & bit)) return false;
    this.#words[w] = word & ~bit;
    this.#noteWord(w);
    this.#count--;
    return true;
  }

  clear(): void {
    this.#words.fill(0);
    this.#summary.fill(0);
    this.#full.fill(0);
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
    let changed = 0;
    for (let p = Math.max(0, first); p < end; ) {
      const w = p >>> 5;
      const bit = p & 31;
      if (bit === 0 && end - p >= 32) {
        const lastWord = end >>> 5;
        changed += this.#updateWords(w, lastWord, set);
        p = lastWord * 32;
        continue;
      }
      this.#open(w >>> 5);
      const span = Math.min(32 - bit, end - p);
      const mask = span === 32 ? 0xffffffff : ((1 << span) - 1) << bit;
      const word = this.#words[w]!;
      const next = set ? word | mask : word & ~mask;
      changed += popcount32((word ^ next) >>> 0);
      this.#words[w] = next;
      this.#noteWord(w);
      p += span;
    }
    this.#count += set ? changed : -changed;
    return changed;
  }

  /** Set (or clear) whole words [from, to): whole blocks by their marks, the rest word by word. Returns how many pages changed. */
  #updateWords(from: number, to: number, set: boolean): number {
    let changed = 0;
    for (let w = from; w < to; ) {
      const block = Math.floor(w / BLOCK_WORDS);
      const blockEnd = (block + 1) * BLOCK_WORDS;
      if (w === block * BLOCK_WORDS && blockEnd <= to) {
        changed += this.#updateBlock(block, set);
        w = blockEnd;
        continue;
      }
      const stop = Math.min(to, blockEnd);
      this.#open(block);
      changed += set ? fillWords(this.#words, w, stop) : clearWords(this.#words, w, stop);
      setBits(this.#summary, w, stop - 1, set);
      w = stop;
    }
    return changed;
  }

  /** Fill or empty block `block` by its mark, its words left at zero; returns how many pages changed. */
  #updateBlock(block: number, set: boolean): number {
    const full = this.#isFull(block);
    // Pages the block held in its words (none unless its summary says so); the words end at zero.
    const held = full || this.#summary[block] === 0 ? 0 : clearWords(this.#words, block * BLOCK_WORDS, (block + 1) * BLOCK_WORDS);
    this.#summary[block] = set ? 0xffffffff : 0;
    if (set) this.#full[block >>> 5]! |= 1 << (block & 31);
    else this.#full[block >>> 5]! &= ~(1 << (block & 31));
    if (full) return set ? 0 : BLOCK_WORDS * 32;
    return set ? BLOCK_WORDS * 32 - held : held;
  }

  /** OR `word` into word `index` (pages 32·index … 32·index + 31); returns how many pages were added. */
  addWord(index: number, word: number): number {
    if (this.#isFull(index >>> 5)) return 0;
    const old = this.#words[index]!;
    const added = popcount32((word & ~old) >>> 0);
    this.#words[index] = old | word;
    this.#noteWord(index);
    this.#count += added;
    return added;
  }

  /** Remove every page set in `words` (same layout, e.g. a dirty log's), word by word. */
  subtractWords(words: Uint32Array): void {
    const n = Math.min(words.length, this.#words.length);
    for (let w = 0; w < n; w++) {
      const drop = this.#word(w) & words[w]!;
      if (drop === 0) continue;
      this.#open(w >>> 5);
      this.#words[w] = this.#words[w]! & ~drop;
      this.#noteWord(w);
      this.#count -= popcount32(drop >>> 0);
    }
  }

  /** The first page in the set at or after `from`, or -1. Skips empty words by the summary. */
  nextSet(from: number): number {
    if (from >= this.pageCount) return -1;
    const w = from >>> 5;
    const word = this.#word(w) & (~0 << (from & 31));
    let pfn = w * 32 + (31 - Math.clz32(word & -word));
    if (word === 0) {
      const next = nextSetBit(this.#summary, w + 1);
      pfn = next < 0 ? -1 : this.#isFull(next >>> 5) ? next * 32 : nextSetBit(this.#words, next * 32);
    }
    return pfn < this.pageCount ? pfn : -1;
  }

  /** The first page not in the set at or after `from`, or `limit` if all up to it are. Skips full words and blocks whole. */
  nextClear(from: number, limit: number): number {
    limit = Math.min(limit, this.pageCount);
    if (from >= limit) return limit;
    let w = from >>> 5;
    let word = ~this.#word(w) & (~0 << (from & 31));
    while (word === 0) {
      w = this.#isFull(w >>> 5) ? ((w >>> 5) + 1) * BLOCK_WORDS : w + 1;
      if (w * 32 >= limit) return limit;
      word = ~this.#word(w);
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

  #isFull(block: number): boolean {
    return ((this.#full[block >>> 5]! >>> (block & 31)) & 1) === 1;
  }

  /** Word `w` as the set has it. */
  #word(w: number): number {
    return this.#isFull(w >>> 5) ? 0xffffffff : this.#words[w]!;
  }

  /** Store a full block's pages in its words, so that single pages can leave it. */
  #open(block: number): void {
    if (!this.#isFull(block)) return;
    this.#full[block >>> 5]! &= ~(1 << (block & 31));
    this.#words.fill(0xffffffff, block * BLOCK_WORDS, (block + 1) * BLOCK_WORDS);
  }

  /** Word `w` was written: its summary bit follows whether it is empty. */
  #noteWord(w: number): void {
    if (this.#words[w] === 0) this.#summary[w >>> 5]! &= ~(1 << (w & 31));
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
