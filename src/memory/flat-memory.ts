/** Guest RAM with every byte backed: one buffer per region, for VMMs and real guests. */
import { ChunkedMemory, type Chunk } from './chunked-memory.js';
import type { RamRegion } from './guest-memory.js';
import { allocateScannable } from './zero-scan.js';

/** Regions this large or larger that FlatMemory allocates live in WebAssembly memory. */
const SCANNABLE_FROM = 16 << 20;

/** A RAM region backed by a caller-supplied buffer (e.g. a VMM's own guest RAM). */
export interface BackedRegion extends RamRegion {
  /** `size` bytes; allocated when absent. */
  readonly buffer?: ArrayBuffer | SharedArrayBuffer;
  /** Offset of the region's first byte in `buffer` (default 0). */
  readonly bufferOffset?: number;
}

/**
 * Guest RAM as one buffer per region, with holes between regions. This is what a VMM that
 * owns its RAM as ArrayBuffers (and a real guest) uses: every byte exists. Regions of 16 MiB
 * to 4 GiB that it allocates itself live in WebAssembly memory, where zero pages are found by
 * a SIMD kernel.
 */
export class FlatMemory extends ChunkedMemory {
  private readonly chunks: Chunk[];
  private lastHit = 0;

  /** `regions` may be a single RAM size in bytes for one region at GPA 0. */
  constructor(regions: number | readonly BackedRegion[]) {
    const list: readonly BackedRegion[] = typeof regions === 'number' ? [{ gpa: 0, size: regions }] : regions;
    super(list);
    this.chunks = list.map((r) => {
      if (r.buffer) {
        const bytes = new Uint8Array(r.buffer, r.bufferOffset ?? 0, r.size);
        return { gpa: r.gpa, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
      }
      // Large RAM we allocate ourselves goes where the SIMD zero-page kernel can scan it (a
      // WebAssembly memory costs ~0.1 ms to set up: not worth it for a fuzz case's few pages).
      const scannable = r.size >= SCANNABLE_FROM ? allocateScannable(r.size) : undefined;
      const bytes = scannable?.bytes ?? new Uint8Array(r.size);
      return { gpa: r.gpa, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), ...(scannable ? { isZero: scannable.isZero } : {}) };
    });
  }

  protected chunkAt(gpa: number): Chunk {
    // Most accesses hit the same region as the previous one.
    const hit = this.chunks[this.lastHit]!;
    if (gpa >= hit.gpa && gpa < hit.gpa + hit.bytes.length) return hit;
    const i = this.chunks.findIndex((c) => gpa >= c.gpa && gpa < c.gpa + c.bytes.length);
    this.lastHit = i;
    return this.chunks[i]!;
  }

  protected discardRange(gpa: number, length: number): void {
    // A flat buffer cannot give pages back; zeroing is what the guest would observe.
    let done = 0;
    while (done < length) {
      const c = this.chunkAt(gpa + done);
      const off = gpa + done - c.gpa;
      const n = Math.min(length - done, c.bytes.length - off);
      c.bytes.fill(0, off, off + n);
      done += n;
    }
  }
}
