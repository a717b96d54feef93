/** A sparse Uint32Array that allocates in blocks as entries become non-zero: per-page metadata that costs what is touched. */
/** Entries per block: a block is allocated the first time one of its entries is set non-zero. */
const BLOCK = 1024;

/**
 * A Uint32Array of `length` entries, all zero at first, that allocates storage in blocks of
 * 1024 as entries become non-zero. Per-page metadata for a 1 TiB guest costs what is touched.
 */
export class LazyU32Array {
  private readonly blocks: Array<Uint32Array | undefined>;

  constructor(readonly length: number) {
    this.blocks = new Array<Uint32Array | undefined>(Math.ceil(length / BLOCK));
  }

  get(index: number): number {
    return this.blocks[Math.floor(index / BLOCK)]?.[index % BLOCK] ?? 0;
  }

  set(index: number, value: number): void {
    const b = Math.floor(index / BLOCK);
    let block = this.blocks[b];
    if (block === undefined) {
      if (value === 0) return;
      this.blocks[b] = block = new Uint32Array(BLOCK);
    }
    block[index % BLOCK] = value;
  }

  /**
   * Zero entries [first, first + count), calling `fn(index, value)` first for each non-zero one.
   * Blocks covered whole are dropped; unallocated blocks cost nothing.
   */
  clearRange(first: number, count: number, fn: (index: number, value: number) => void): void {
    this.fillRange(first, count, 0, fn);
  }

  /**
   * Set entries [first, first + count) to `value`, calling `fn(index, old)` first for each
   * non-zero entry it replaces. Cost grows with blocks, plus entries already set: a run of
   * untouched entries is a block fill, and zeroing a whole block drops it.
   */
  fillRange(first: number, count: number, value: number, fn: (index: number, old: number) => void): void {
    const end = Math.min(first + count, this.length);
    for (let i = first; i < end; ) {
      const b = Math.floor(i / BLOCK);
      const base = b * BLOCK;
      const blockEnd = Math.min(base + BLOCK, end);
      // Offsets within the block: [from, to).
      const from = i - base;
      const to = blockEnd - base;
      const block = this.blocks[b];
      if (block !== undefined) {
        for (let k = from; k < to; k++) {
          const old = block[k]!;
          if (old !== 0) fn(base + k, old);
        }
      }
      if (value === 0 && from === 0 && to === BLOCK) this.blocks[b] = undefined;
      else if (block !== undefined || value !== 0) (this.blocks[b] ??= new Uint32Array(BLOCK)).fill(value, from, to);
      i = blockEnd;
    }
  }

  /** How many entries from `index` on are zero, counting at most `max`. Skips unallocated blocks whole. */
  zeroRun(index: number, max: number): number {
    const end = Math.min(index + max, this.length);
    for (let i = index; i < end; ) {
      const b = Math.floor(i / BLOCK);
      const base = b * BLOCK;
      const blockEnd = Math.min(base + BLOCK, end);
      const block = this.blocks[b];
      if (block !== undefined) for (let k = i - base; k < blockEnd - base; k++) if (block[k] !== 0) return base + k - index;
      i = blockEnd;
    }
    return Math.max(0, end - index);
  }

  /**
   * The storage block holding entry `index` and where the entry is in it, for loops that walk
   * many entries; undefined when that block is not allocated (all its entries are zero).
   */
  blockOf(index: number): { readonly block: Uint32Array; readonly offset: number } | undefined {
    const block = this.blocks[Math.floor(index / BLOCK)];
    return block === undefined ? undefined : { block, offset: index % BLOCK };
  }

  /** Call `fn(index, value)` for every non-zero entry, in index order. */
  forEachNonZero(fn: (index: number, value: number) => void): void {
    this.blocks.forEach((block, b) => {
      if (block === undefined) return;
      for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) fn(b * BLOCK + i, block[i]!);
    });
  }
}
