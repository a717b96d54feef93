/**
 * The per-page dirty log that every guest write marks while logging is enabled — the
 * equivalent of KVM's dirty bitmap. One bit per 4 KiB page, 32 pages per word, so a
 * consumer (the migration bitmap) merges whole words and pays for words, not pages.
 */
export class DirtyLog {
  readonly pageCount: number;
  /** Bit i of word w is page 32·w + i. */
  readonly words: Uint32Array;
  #enabled = false;

  constructor(pageCount: number) {
    this.pageCount = pageCount;
    this.words = new Uint32Array(Math.ceil(pageCount / 32));
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
    this.words.fill(0);
  }

  /** Mark pages [firstPfn, lastPfn] (inclusive) dirty, if logging is enabled. */
  markRange(firstPfn: number, lastPfn: number): void {
    if (!this.#enabled) return;
    let w = firstPfn >>> 5;
    const lastWord = lastPfn >>> 5;
    const firstBits = ~0 << (firstPfn & 31);
    const lastBits = ~0 >>> (31 - (lastPfn & 31));
    if (w === lastWord) {
      this.words[w]! |= firstBits & lastBits;
      return;
    }
    this.words[w]! |= firstBits;
    for (w++; w < lastWord; w++) this.words[w] = 0xffffffff;
    this.words[lastWord]! |= lastBits;
  }

  /** Mark one page dirty, if logging is enabled. */
  mark(pfn: number): void {
    if (this.#enabled) this.words[pfn >>> 5]! |= 1 << (pfn & 31);
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

  /** Number of pages currently logged dirty. */
  count(): number {
    let n = 0;
    for (const word of this.words) n += popcount32(word);
    return n;
  }
}

/** Set bits in a 32-bit word (SWAR popcount). */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}
