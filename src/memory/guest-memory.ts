/** The guest-memory contract a device model, a guest and a migration use: RAM regions, checked little-endian accesses, the dirty log, and the optional described-page capability. */
import type { DirtyLog } from './dirty-log.js';

/** Guest page size. PFN = gpa / PAGE_SIZE (by division: addresses go past 2^32). */
export const PAGE_SIZE = 4096;

/** A RAM region: `size` bytes of guest-physical address space starting at `gpa`. */
export interface RamRegion {
  readonly gpa: number;
  readonly size: number;
}

/**
 * Guest-physical memory as a device model sees it. Every multi-byte value is little-endian
 * (virtio 1.x). Every access is checked: a range that is not wholly RAM throws a
 * {@link MemoryError} before anything is written, so there are no partial writes. Every write
 * marks the pages it touches in {@link GuestMemory.dirtyLog}.
 */
export interface GuestMemory {
  /** RAM regions, sorted by address, not overlapping. */
  readonly regions: readonly RamRegion[];
  /** One past the highest RAM address. */
  readonly end: number;
  /** Total RAM bytes (holes excluded). */
  readonly ramSize: number;
  readonly dirtyLog: DirtyLog;
  /**
   * Present when the memory stores some pages as descriptions rather than bytes (the
   * simulator's compact memory): see {@link PageDescriber} and `described-pages.ts`.
   */
  readonly describer?: PageDescriber | undefined;

  /** True when [gpa, gpa + length) is a valid range that lies wholly in RAM (an empty one always does). */
  contains(gpa: number, length: number): boolean;

  read(gpa: number, length: number): Uint8Array;
  readInto(gpa: number, target: Uint8Array): void;
  write(gpa: number, data: Uint8Array): void;
  fill(gpa: number, length: number, byte: number): void;

  readU8(gpa: number): number;
  readU16(gpa: number): number;
  readU32(gpa: number): number;
  /** Throws `u64-unsafe` when the value exceeds Number.MAX_SAFE_INTEGER. */
  readU64(gpa: number): number;
  writeU8(gpa: number, value: number): void;
  writeU16(gpa: number, value: number): void;
  writeU32(gpa: number, value: number): void;
  writeU64(gpa: number, value: number): void;

  /**
   * Drop the contents of whole pages so they read as zero (MADV_DONTNEED). This is the host
   * acting, not the guest writing, so the dirty log is not marked.
   */
  discard(gpa: number, length: number): void;
  /** True when the page holds only zero bytes. */
  isZeroPage(pfn: number): boolean;
}

/**
 * A page described without its bytes: one byte repeated (a zero or poisoned page), or a
 * pattern page — the content a simulated guest with `seed` writes to a page at `version`
 * (see `compact/page-pattern.ts`).
 */
export type PageDescription = { readonly fill: number } | { readonly seed: number; readonly version: number };

/** Consecutive pattern pages of one guest that hold one version each (a guest's memory map is millions). */
export interface PatternRun {
  readonly count: number;
  readonly version: number;
}

/**
 * The described-page capability: a memory that keeps some pages as descriptions lets a
 * migration read and write them by description, so simulating a large guest costs what it
 * touches, not a copy of its RAM. Each method does what the byte accesses it stands for would
 * (a write marks the dirty log); the callers are the functions of `described-pages.ts`, which
 * fall back to bytes for a memory without the capability.
 */
export interface PageDescriber {
  /** The guest whose pattern pages this memory stores by description. */
  readonly patternSeed: number;
  /** How many pages from `pfn` on are stored as zero, counting at most `max` (pages stored as bytes stop the count, zero or not). */
  zeroRun(pfn: number, max: number): number;
  /** What page `pfn` holds, when a short exact description exists; undefined when only its bytes say it. */
  describe(pfn: number): PageDescription | undefined;
  /** Append the consecutive pattern pages from `pfn` on (at most `max`) to `out` as runs of one version; returns how many pages. */
  patternRuns(pfn: number, max: number, out: PatternRun[]): number;
  /** Write pattern pages of {@link patternSeed} from `pfn` on, run after run. */
  writePatternRuns(pfn: number, runs: readonly PatternRun[]): void;
}
