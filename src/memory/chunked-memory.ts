/** The access logic every byte-backed guest RAM shares (flat, sparse, compact, v86's): range checks, dirty marking, chunk walking, a written-page cache. */
import { DirtyLog } from './dirty-log.js';
import { MemoryError } from './errors.js';
import { PAGE_SIZE, type GuestMemory, type RamRegion } from './guest-memory.js';
import { isZeroRange } from './zero-scan.js';

/** A piece of backing store: `bytes[i]` is guest address `gpa + i`. */
export interface Chunk {
  readonly gpa: number;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** A faster zero check for these bytes (a SIMD kernel), when there is one. */
  readonly isZero?: (offset: number, length: number) => boolean;
}

const TWO_32 = 0x1_0000_0000;
/** Entries of the written-page cache (a power of two): a ring's descriptor table, avail and used rings. */
const HOT_WAYS = 8;

/** Check that `regions` are sorted, disjoint, page aligned and non-empty. */
export function checkRegions(regions: readonly RamRegion[]): void {
  let previousEnd = 0;
  for (const r of regions) {
    const ok = Number.isSafeInteger(r.gpa) && Number.isSafeInteger(r.size) && r.size > 0 && r.gpa % PAGE_SIZE === 0 && r.size % PAGE_SIZE === 0 && r.gpa >= previousEnd && Number.isSafeInteger(r.gpa + r.size);
    if (!ok) {
      throw new MemoryError('bad-argument', r.gpa, r.size, 'RAM regions must be page aligned, non-empty, sorted and disjoint');
    }
    previousEnd = r.gpa + r.size;
  }
  if (regions.length === 0) throw new MemoryError('bad-argument', 0, 0, 'guest memory needs at least one RAM region');
}

/**
 * The access logic shared by every backing store: range checks, dirty marking, splitting
 * accesses at chunk boundaries. A subclass only says where bytes live ({@link chunkAt}).
 */
export abstract class ChunkedMemory implements GuestMemory {
  readonly regions: readonly RamRegion[];
  readonly end: number;
  readonly ramSize: number;
  readonly dirtyLog: DirtyLog;

  protected constructor(regions: readonly RamRegion[]) {
    checkRegions(regions);
    this.regions = regions.map((r) => ({ gpa: r.gpa, size: r.size }));
    const last = this.regions[this.regions.length - 1]!;
    this.end = last.gpa + last.size;
    this.ramSize = this.regions.reduce((sum, r) => sum + r.size, 0);
    this.dirtyLog = new DirtyLog(this.end / PAGE_SIZE);
  }

  /**
   * The chunk holding `gpa` (which is known to be RAM). With `forWrite` false a store may
   * return undefined to mean "reads as zero".
   */
  protected abstract chunkAt(gpa: number, forWrite: boolean): Chunk | undefined;
  /** Make whole pages [gpa, gpa + length) read as zero. The range is known to be RAM. */
  protected abstract discardRange(gpa: number, length: number): void;

  contains(gpa: number, length: number): boolean {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length < 0) return false;
    // An empty range touches nothing, wherever it is.
    if (length === 0) return true;
    const end = gpa + length;
    if (end > this.end) return false;
    // The common case: one region from 0 (checked on the hot path of every ring access).
    if (this.regions.length === 1 && this.regions[0]!.gpa === 0) return true;
    // Walk regions from the one holding gpa while they are contiguous.
    let at = gpa;
    for (const r of this.regions) {
      if (r.gpa + r.size <= at) continue;
      if (r.gpa > at) return false;
      at = r.gpa + r.size;
      if (at >= end) return true;
    }
    return false;
  }

  protected check(gpa: number, length: number): void {
    if (this.contains(gpa, length)) return;
    const valid = Number.isSafeInteger(gpa) && Number.isSafeInteger(length) && gpa >= 0 && length >= 0;
    throw new MemoryError(valid ? 'out-of-range' : 'bad-address', gpa, length, valid ? `guest range 0x${gpa.toString(16)}+${length} is not RAM` : `invalid guest range ${gpa}+${length}`);
  }

  protected markDirty(gpa: number, length: number): void {
    if (length === 0 || !this.dirtyLog.enabled) return;
    this.dirtyLog.markRange(Math.floor(gpa / PAGE_SIZE), Math.floor((gpa + length - 1) / PAGE_SIZE));
  }

  read(gpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length >= 0 && Number.isSafeInteger(length) ? length : 0);
    this.check(gpa, length);
    this.copyOut(gpa, out);
    return out;
  }

  readInto(gpa: number, target: Uint8Array): void {
    this.check(gpa, target.length);
    this.copyOut(gpa, target);
  }

  write(gpa: number, data: Uint8Array): void {
    const hot = this.hot(gpa, data.length);
    if (hot !== undefined) {
      hot.bytes.set(data, gpa - hot.gpa);
      this.markDirty(gpa, data.length);
      return;
    }
    this.check(gpa, data.length);
    let done = 0;
    while (done < data.length) {
      const c = this.chunkAt(gpa + done, true)!;
      this.remember(Math.floor((gpa + done) / PAGE_SIZE), c);
      const off = gpa + done - c.gpa;
      const n = Math.min(data.length - done, c.bytes.length - off);
      c.bytes.set(data.subarray(done, done + n), off);
      done += n;
    }
    this.markDirty(gpa, data.length);
  }

  fill(gpa: number, length: number, byte: number): void {
    this.check(gpa, length);
    let done = 0;
    while (done < length) {
      const c = this.chunkAt(gpa + done, true)!;
      const off = gpa + done - c.gpa;
      const n = Math.min(length - done, c.bytes.length - off);
      c.bytes.fill(byte, off, off + n);
      done += n;
    }
    this.markDirty(gpa, length);
  }

  private copyOut(gpa: number, target: Uint8Array): void {
    let done = 0;
    while (done < target.length) {
      const at = gpa + done;
      const c = this.chunkAt(at, false);
      if (c === undefined) {
        // An untouched page: zeros up to the next page boundary.
        const n = Math.min(target.length - done, PAGE_SIZE - (at % PAGE_SIZE));
        target.fill(0, done, done + n);
        done += n;
        continue;
      }
      const off = at - c.gpa;
      const n = Math.min(target.length - done, c.bytes.length - off);
      target.set(c.bytes.subarray(off, off + n), done);
      done += n;
    }
  }

  /** Offset of the last scalar inside the chunk {@link scalarChunk} returned. */
  private scalarOffset = 0;
  private readonly scratch = new DataView(new ArrayBuffer(8));
  private readonly scratchBytes = new Uint8Array(this.scratch.buffer);
  /**
   * Chunks that store pages, direct-mapped by page number: a ring is read and written a few
   * bytes at a time, and a hit skips the range check and the store's lookup. Only a page's own
   * store goes in (what a write was given, or what a subclass says is stored), never bytes
   * generated for one read; a subclass forgets a page whose store changes ({@link forgetPage}).
   */
  private readonly hotPfns = new Float64Array(HOT_WAYS).fill(Number.NaN);
  private readonly hotChunks = new Array<Chunk | undefined>(HOT_WAYS);

  /** The cached store of page `pfn`, if any. */
  protected cachedChunk(pfn: number): Chunk | undefined {
    return this.hotPfns[pfn & (HOT_WAYS - 1)] === pfn ? this.hotChunks[pfn & (HOT_WAYS - 1)] : undefined;
  }

  /** `c` stores page `pfn`: keep it for the next access. */
  protected remember(pfn: number, c: Chunk): void {
    this.hotPfns[pfn & (HOT_WAYS - 1)] = pfn;
    this.hotChunks[pfn & (HOT_WAYS - 1)] = c;
  }

  /** Page `pfn` is no longer stored where it was (its bytes were dropped or replaced). */
  protected forgetPage(pfn: number): void {
    if (this.hotPfns[pfn & (HOT_WAYS - 1)] === pfn) this.hotPfns[pfn & (HOT_WAYS - 1)] = Number.NaN;
  }

  /** The cached store that holds all `size` bytes at `gpa` within one page, if any: those bytes are RAM. */
  private hot(gpa: number, size: number): Chunk | undefined {
    const pfn = Math.floor(gpa / PAGE_SIZE);
    const way = pfn & (HOT_WAYS - 1);
    if (this.hotPfns[way] !== pfn || !Number.isInteger(gpa) || gpa + size > (pfn + 1) * PAGE_SIZE) return undefined;
    const c = this.hotChunks[way]!;
    if (c.bytes.length > 0) return c;
    // A WebAssembly memory that grows detaches its old buffer, and views of it read as empty:
    // the store has moved, and the store's own lookup finds where.
    this.hotPfns[way] = Number.NaN;
    return undefined;
  }

  /**
   * The chunk that holds all `size` bytes at `gpa` (offset in {@link scalarOffset}), or
   * undefined when the bytes straddle chunks or read as zero: then the caller goes through
   * {@link scratch}, the slow path.
   */
  private scalarChunk(gpa: number, size: number, forWrite: boolean): Chunk | undefined {
    const hot = this.hot(gpa, size);
    if (hot !== undefined) {
      this.scalarOffset = gpa - hot.gpa;
      return hot;
    }
    this.check(gpa, size);
    const c = this.chunkAt(gpa, forWrite);
    if (c === undefined) return undefined;
    // What a write is given is the page's own store, not bytes generated for one read.
    if (forWrite) this.remember(Math.floor(gpa / PAGE_SIZE), c);
    this.scalarOffset = gpa - c.gpa;
    return this.scalarOffset + size <= c.bytes.length ? c : undefined;
  }

  private slowRead(gpa: number, size: number): DataView {
    this.copyOut(gpa, this.scratchBytes.subarray(0, size));
    return this.scratch;
  }

  readU8(gpa: number): number {
    const c = this.scalarChunk(gpa, 1, false);
    return c ? c.bytes[this.scalarOffset]! : this.slowRead(gpa, 1).getUint8(0);
  }
  readU16(gpa: number): number {
    const c = this.scalarChunk(gpa, 2, false);
    return c ? c.view.getUint16(this.scalarOffset, true) : this.slowRead(gpa, 2).getUint16(0, true);
  }
  readU32(gpa: number): number {
    const c = this.scalarChunk(gpa, 4, false);
    return c ? c.view.getUint32(this.scalarOffset, true) : this.slowRead(gpa, 4).getUint32(0, true);
  }
  readU64(gpa: number): number {
    const c = this.scalarChunk(gpa, 8, false);
    const [view, off] = c ? [c.view, this.scalarOffset] : [this.slowRead(gpa, 8), 0];
    const lo = view.getUint32(off, true);
    const hi = view.getUint32(off + 4, true);
    if (hi > 0x1fffff) {
      throw new MemoryError('u64-unsafe', gpa, 8, `64-bit value at 0x${gpa.toString(16)} exceeds 2^53 - 1`);
    }
    return hi * TWO_32 + lo;
  }

  writeU8(gpa: number, value: number): void {
    const c = this.scalarChunk(gpa, 1, true);
    if (!c) {
      this.scratch.setUint8(0, value);
      return this.write(gpa, this.scratchBytes.subarray(0, 1));
    }
    c.bytes[this.scalarOffset] = value;
    this.markDirty(gpa, 1);
  }
  writeU16(gpa: number, value: number): void {
    const c = this.scalarChunk(gpa, 2, true);
    if (!c) {
      this.scratch.setUint16(0, value, true);
      return this.write(gpa, this.scratchBytes.subarray(0, 2));
    }
    c.view.setUint16(this.scalarOffset, value, true);
    this.markDirty(gpa, 2);
  }
  writeU32(gpa: number, value: number): void {
    const c = this.scalarChunk(gpa, 4, true);
    if (!c) {
      this.scratch.setUint32(0, value, true);
      return this.write(gpa, this.scratchBytes.subarray(0, 4));
    }
    c.view.setUint32(this.scalarOffset, value, true);
    this.markDirty(gpa, 4);
  }
  writeU64(gpa: number, value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new MemoryError('u64-unsafe', gpa, 8, `cannot store ${value} as an exact unsigned 64-bit value`);
    }
    this.scratch.setUint32(0, value % TWO_32, true);
    this.scratch.setUint32(4, Math.floor(value / TWO_32), true);
    this.write(gpa, this.scratchBytes);
  }

  discard(gpa: number, length: number): void {
    this.check(gpa, length);
    if (gpa % PAGE_SIZE !== 0 || length % PAGE_SIZE !== 0) {
      throw new MemoryError('bad-argument', gpa, length, 'discard needs whole pages');
    }
    this.hotPfns.fill(Number.NaN);
    this.discardRange(gpa, length);
  }

  isZeroPage(pfn: number): boolean {
    const gpa = pfn * PAGE_SIZE;
    this.check(gpa, PAGE_SIZE);
    const c = this.chunkAt(gpa, false);
    if (c === undefined) return true;
    const off = gpa - c.gpa;
    return c.isZero ? c.isZero(off, PAGE_SIZE) : isZeroRange(c.bytes, off, PAGE_SIZE);
  }
}
