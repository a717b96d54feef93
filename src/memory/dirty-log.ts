/** The per-page dirty log every guest write marks: the equivalent of KVM's dirty bitmap. */
import { popcount32, setBits } from './bits.js';

/**
 * The per-page dirty log that every guest write marks while logging is enabled — the
 * equivalent of KVM's dirty bitmap. One bit per 4 KiB page, 32 pages per word, so a
 * consumer (the migration bitmap) merges whole words and pays for words, not pages.
 */
export class DirtyLog {
  readonly pageCount: number;
  /** Bit i of word w is page 32·w + i. Read-only outside this class: marking keeps {@link summary} in step. */
  readonly words: Uint32Array;
  /**
   * Bit i of summary word s is set when word 32·s + i may be non-zero, so that a sync or a
   * reset pays for the words marked since the last one, not for all of RAM (a 1 TiB guest's
   * log is 8 M words; its summary is 256 K).
   */
  private readonly summary: Uint32Array;
  #enabled = false;

  constructor(pageCount: number) {
    this.pageCount = pageCount;
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
    this.summary = new Uint32Array(Math.ceil(this.words.length / 32));
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Start logging. Bits already set stay set. */
  enable(): void {
    this.#enabled = true;
  }

  /** Stop logging and forget what was logged. */
  disable(): void {
    this.#enabled = false;
    this.drain(() => {});
  }

  /** Mark pages [firstPfn, lastPfn] (inclusive) dirty, if logging is enabled. */
  markRange(firstPfn: number, lastPfn: number): void {
    if (!this.#enabled) return;
    setBits(this.words, firstPfn, lastPfn);
    setBits(this.summary, firstPfn >>> 5, lastPfn >>> 5);
  }

  /** Mark one page dirty, if logging is enabled. */
  mark(pfn: number): void {
    if (!this.#enabled) return;
    const w = pfn >>> 5;
    this.words[w]! |= 1 << (pfn & 31);
    this.summary[w >>> 5]! |= 1 << (w & 31);
  }

  isDirty(pfn: number): boolean {
    return ((this.words[pfn >>> 5]! >>> (pfn & 31)) & 1) === 1;
  }

  /** Return word `index` (pages 32·index … 32·index + 31) and clear it. */
  takeWord(index: number): number {
    const word = this.words[index]!;
    this.words[index] = 0;
    return word >>> 0;
  }

  /**
   * Hand every non-zero word to `fn(index, word)`, in index order, and clear it: what a bitmap
   * sync takes from the log. Costs the words marked since the last drain, not all of RAM.
   */
  drain(fn: (index: number, word: number) => void): void {
    const { words, summary } = this;
    for (let s = 0; s < summary.length; s++) {
      let bits = summary[s]!;
      if (bits === 0) continue;
      summary[s] = 0;
      while (bits !== 0) {
        const low = bits & -bits;
        const w = s * 32 + 31 - Math.clz32(low);
        bits ^= low;
        const word = words[w]!;
        if (word === 0) continue;
        words[w] = 0;
        fn(w, word >>> 0);
      }
    }
  }

  /** Number of pages currently logged dirty. */
  count(): number {
    let n = 0;
    for (const word of this.words) n += popcount32(word);
    return n;
  }
}
