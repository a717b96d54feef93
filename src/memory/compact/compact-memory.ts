/** Guest RAM for very large simulated guests: zero, fill and pattern pages stored as descriptors, real bytes only where needed. */
import { ChunkedMemory, type Chunk } from '../chunked-memory.js';
import { PAGE_SIZE, type PageDescriber, type PageDescription, type PatternRun, type RamRegion } from '../guest-memory.js';
import { LazyU32Array } from './lazy-array.js';
import { fillPattern, recognisePattern } from './page-pattern.js';

// A page's descriptor: the kind in the top two bits, a fill byte or a version below.
const KIND_SHIFT = 30;
const VALUE_MASK = (1 << KIND_SHIFT) - 1;
const Kind = { ZERO: 0, BYTES: 1, FILL: 2, PATTERN: 3 } as const;

/** Options for {@link CompactMemory}. */
export interface CompactMemoryOptions {
  /** RAM size in bytes (one region at 0) or the regions. */
  readonly regions: number | readonly RamRegion[];
  /** The seed of the pattern pages this memory stores compactly (the guest's seed). */
  readonly patternSeed: number;
}

/**
 * Guest RAM for very large simulated guests. A page is zero, filled with one byte (poison),
 * a pattern page (see page-pattern.ts) stored as its version, or real bytes. Only real bytes
 * cost a page of host memory, and per-page descriptors are allocated in blocks as pages are
 * touched, so a 1 TiB guest costs what its rings and odd pages cost. Reads of fill and
 * pattern pages generate their bytes on the fly; a byte write to such a page materialises it.
 * It is its own {@link PageDescriber}: a migration reads and writes its pages by description.
 */
export class CompactMemory extends ChunkedMemory implements PageDescriber {
  readonly patternSeed: number;
  private readonly descriptors: LazyU32Array;
  private readonly bytes = new Map<number, Chunk>();
  /** Where fill and pattern pages are generated for reading; valid until the next read. */
  private readonly generated: { gpa: number; readonly bytes: Uint8Array; readonly view: DataView };
  private readonly generatedWords = new Uint32Array(PAGE_SIZE / 4);

  constructor(options: CompactMemoryOptions) {
    super(typeof options.regions === 'number' ? [{ gpa: 0, size: options.regions }] : options.regions);
    this.patternSeed = options.patternSeed >>> 0;
    this.descriptors = new LazyU32Array(this.end / PAGE_SIZE);
    const bytes = new Uint8Array(this.generatedWords.buffer);
    this.generated = { gpa: 0, bytes, view: new DataView(bytes.buffer) };
  }

  /** Pages stored as real bytes. */
  get residentPages(): number {
    return this.bytes.size;
  }

  get describer(): PageDescriber {
    return this;
  }

  /** A zero, fill or pattern page by its descriptor; a page of bytes only when they are all zero. */
  describe(pfn: number): PageDescription | undefined {
    const fill = this.fillByte(pfn);
    if (fill !== undefined) return { fill };
    const version = this.patternVersion(pfn);
    if (version !== undefined) return { seed: this.patternSeed, version };
    return this.isZeroPage(pfn) ? { fill: 0 } : undefined;
  }

  /** The pattern version a page holds, or undefined when it holds something else. */
  patternVersion(pfn: number): number | undefined {
    const d = this.descriptor(pfn);
    return d >>> KIND_SHIFT === Kind.PATTERN ? d & VALUE_MASK : undefined;
  }

  /** How many pages from `pfn` on are stored as zero, counting at most `max` (cost grows with touched pages). */
  zeroRun(pfn: number, max: number): number {
    return this.descriptors.zeroRun(pfn, max);
  }

  /** The byte a page is filled with (0 for a zero page), or undefined when it holds more. */
  fillByte(pfn: number): number | undefined {
    const d = this.descriptor(pfn);
    const kind = d >>> KIND_SHIFT;
    if (kind === Kind.ZERO) return 0;
    return kind === Kind.FILL ? d & 0xff : undefined;
  }

  /**
   * Append the consecutive pattern pages from `pfn` on (at most `max`) to `out` as runs of one
   * version; returns how many pages. Block by block: a guest's memory map is millions of pages.
   */
  patternRuns(pfn: number, max: number, out: PatternRun[]): number {
    let n = 0;
    let run: { count: number; version: number } | undefined;
    while (n < max) {
      const at = this.descriptors.blockOf(pfn + n);
      if (at === undefined) break;
      const { block, offset } = at;
      const stop = Math.min(block.length, offset + max - n);
      let i = offset;
      while (i < stop) {
        const d = block[i]!;
        if (d >>> KIND_SHIFT !== Kind.PATTERN) break;
        let j = i + 1;
        while (j < stop && block[j] === d) j++;
        const version = d & VALUE_MASK;
        if (run?.version === version) run.count += j - i;
        else out.push((run = { count: j - i, version }));
        i = j;
      }
      n += i - offset;
      if (i < stop) break;
    }
    return n;
  }

  /** Write the pattern page (patternSeed, pfn, version) — what a guest writing `pfn` leaves. */
  writePattern(pfn: number, version: number): void {
    this.check(pfn * PAGE_SIZE, PAGE_SIZE);
    this.setDescriptor(pfn, (Kind.PATTERN << KIND_SHIFT) | (version & VALUE_MASK));
    this.markDirty(pfn * PAGE_SIZE, PAGE_SIZE);
  }

  /** Write pattern pages from `pfn` on, run after run (a single page as {@link writePattern} does it). */
  writePatternRuns(pfn: number, runs: readonly PatternRun[]): void {
    for (const run of runs) {
      if (run.count === 1) this.writePattern(pfn, run.version);
      else this.writePatternRun(pfn, run);
      pfn += run.count;
    }
  }

  /** Write `run.count` pattern pages of one version from `pfn` on (a migration destination's bulk write). */
  writePatternRun(pfn: number, run: PatternRun): void {
    this.check(pfn * PAGE_SIZE, run.count * PAGE_SIZE);
    this.descriptors.fillRange(pfn, run.count, (Kind.PATTERN << KIND_SHIFT) | (run.version & VALUE_MASK), (p, old) => this.dropBytes(p, old));
    this.markDirty(pfn * PAGE_SIZE, run.count * PAGE_SIZE);
  }

  override fill(gpa: number, length: number, byte: number): void {
    this.check(gpa, length);
    const firstWhole = Math.ceil(gpa / PAGE_SIZE);
    const endWhole = Math.floor((gpa + length) / PAGE_SIZE);
    if (endWhole <= firstWhole) {
      super.fill(gpa, length, byte);
      return;
    }
    if (gpa < firstWhole * PAGE_SIZE) super.fill(gpa, firstWhole * PAGE_SIZE - gpa, byte);
    const value = (byte & 0xff) === 0 ? 0 : (Kind.FILL << KIND_SHIFT) | (byte & 0xff);
    this.descriptors.fillRange(firstWhole, endWhole - firstWhole, value, (pfn, d) => this.dropBytes(pfn, d));
    this.markDirty(firstWhole * PAGE_SIZE, (endWhole - firstWhole) * PAGE_SIZE);
    const tail = gpa + length - endWhole * PAGE_SIZE;
    if (tail > 0) super.fill(endWhole * PAGE_SIZE, tail, byte);
  }

  override write(gpa: number, data: Uint8Array): void {
    // A whole pattern page written back (a migration destination receiving one) stays compact.
    if (data.length === PAGE_SIZE && gpa % PAGE_SIZE === 0 && this.contains(gpa, PAGE_SIZE)) {
      const id = recognisePattern(data, this.generatedWords);
      const pfn = gpa / PAGE_SIZE;
      if (id !== undefined && id.pfn === pfn && id.seed === this.patternSeed) {
        this.writePattern(pfn, id.version);
        return;
      }
    }
    super.write(gpa, data);
  }

  override isZeroPage(pfn: number): boolean {
    this.check(pfn * PAGE_SIZE, PAGE_SIZE);
    const d = this.descriptor(pfn);
    const kind = d >>> KIND_SHIFT;
    if (kind === Kind.ZERO) return true;
    if (kind === Kind.FILL) return (d & 0xff) === 0;
    if (kind === Kind.PATTERN) return false;
    return super.isZeroPage(pfn);
  }

  protected chunkAt(gpa: number, forWrite: boolean): Chunk | undefined {
    const pfn = Math.floor(gpa / PAGE_SIZE);
    const cached = this.cachedChunk(pfn);
    if (cached !== undefined) return cached;
    const d = this.descriptor(pfn);
    const kind = d >>> KIND_SHIFT;
    if (kind === Kind.BYTES) {
      const chunk = this.bytes.get(pfn)!;
      this.remember(pfn, chunk);
      return chunk;
    }
    if (kind === Kind.ZERO && !forWrite) return undefined;
    // Generate the page's bytes, then either hand them out for reading or make them real.
    this.generated.gpa = pfn * PAGE_SIZE;
    if (kind === Kind.FILL) this.generated.bytes.fill(d & 0xff);
    else if (kind === Kind.PATTERN) fillPattern(this.generatedWords, { seed: this.patternSeed, pfn, version: d & VALUE_MASK });
    else this.generated.bytes.fill(0);
    if (!forWrite) return this.generated;
    const chunk = this.materialise(pfn);
    chunk.bytes.set(this.generated.bytes);
    return chunk;
  }

  protected discardRange(gpa: number, length: number): void {
    // Only touched pages cost anything: untouched descriptor blocks are zero already.
    this.descriptors.clearRange(gpa / PAGE_SIZE, length / PAGE_SIZE, (pfn, d) => this.dropBytes(pfn, d));
  }

  /** Give `pfn` real bytes (zero until the caller fills them) and make it a BYTES page. */
  private materialise(pfn: number): Chunk {
    const bytes = new Uint8Array(PAGE_SIZE);
    const chunk = { gpa: pfn * PAGE_SIZE, bytes, view: new DataView(bytes.buffer) };
    this.bytes.set(pfn, chunk);
    this.descriptors.set(pfn, Kind.BYTES << KIND_SHIFT);
    return chunk;
  }

  private descriptor(pfn: number): number {
    return this.descriptors.get(pfn);
  }

  private setDescriptor(pfn: number, value: number): void {
    this.dropBytes(pfn, this.descriptors.get(pfn));
    this.descriptors.set(pfn, value);
  }

  /** Page `pfn`, described by `d`, is being overwritten: only a BYTES page has bytes to drop, and only those are cached. */
  private dropBytes(pfn: number, d: number): void {
    if (d >>> KIND_SHIFT !== Kind.BYTES) return;
    this.bytes.delete(pfn);
    this.forgetPage(pfn);
  }
}
