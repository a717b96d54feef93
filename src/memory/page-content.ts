import { bytesEqual } from './bytes.js';
import { CompactMemory } from './compact-memory.js';
import { DelegatingMemory } from './delegating-memory.js';
import { PAGE_SIZE, type GuestMemory } from './guest-memory.js';
import { fillPattern, type PatternRun } from './page-pattern.js';

const scratchWords = new Uint32Array(PAGE_SIZE / 4);
const scratchBytes = new Uint8Array(scratchWords.buffer);

/** The memory that stores the bytes, once any delegating layer has seen the access coming. */
function backingFor(memory: GuestMemory, pfn: number, pages: number): GuestMemory {
  if (!(memory instanceof DelegatingMemory)) return memory;
  memory.announce(pfn * PAGE_SIZE, pages * PAGE_SIZE);
  return memory.backing;
}

/** The memory itself, if it stores this guest's pattern pages natively. */
function compactFor(memory: GuestMemory, seed: number, pfn: number, pages = 1): CompactMemory | undefined {
  const backing = backingFor(memory, pfn, pages);
  return backing instanceof CompactMemory && backing.patternSeed === seed >>> 0 ? backing : undefined;
}

/** A page described without its bytes: one byte repeated, or a guest pattern page. */
export type PageSummary = { readonly fill: number } | { readonly seed: number; readonly version: number };

const ZERO_FILL: PageSummary = { fill: 0 };

/**
 * What page `pfn` holds, when a short exact description exists; undefined when only its bytes
 * say it. Cheap on compact memory (its page descriptors), a zero check elsewhere.
 */
export function summarisePage(memory: GuestMemory, pfn: number): PageSummary | undefined {
  const backing = backingFor(memory, pfn, 1);
  if (!(backing instanceof CompactMemory)) return memory.isZeroPage(pfn) ? ZERO_FILL : undefined;
  const fill = backing.fillByte(pfn);
  if (fill !== undefined) return fill === 0 ? ZERO_FILL : { fill };
  const version = backing.patternVersion(pfn);
  return version === undefined ? (backing.isZeroPage(pfn) ? ZERO_FILL : undefined) : { seed: backing.patternSeed, version };
}

/**
 * How many pages from `pfn` on read as zero, counting at most `max` (all RAM). On compact
 * memory a run of untouched pages costs what their descriptor blocks cost, not a page each.
 */
export function zeroRunLength(memory: GuestMemory, pfn: number, max: number): number {
  const backing = backingFor(memory, pfn, max);
  let n = backing instanceof CompactMemory ? backing.zeroRun(pfn, max) : 0;
  // Pages stored as bytes may still be zero: check those one by one.
  while (n < max && memory.isZeroPage(pfn + n)) {
    n++;
    if (backing instanceof CompactMemory) n += backing.zeroRun(pfn + n, max - n);
  }
  return n;
}

/** Write the content the guest with `seed` gives page `pfn` at `version`. */
export function writePatternPage(memory: GuestMemory, seed: number, pfn: number, version: number): void {
  const compact = compactFor(memory, seed, pfn);
  if (compact) {
    compact.writePattern(pfn, version);
    return;
  }
  fillPattern(scratchWords, { seed, pfn, version });
  memory.write(pfn * PAGE_SIZE, scratchBytes);
}

/** Write pattern pages from `pfn` on, run after run (a migration destination's bulk write). */
export function writePatternRuns(memory: GuestMemory, seed: number, pfn: number, runs: readonly PatternRun[]): void {
  const compact = compactFor(memory, seed, pfn, countPatternPages(runs));
  for (const run of runs) {
    if (compact) compact.writePatternRun(pfn, run);
    else for (let i = 0; i < run.count; i++) writePatternPage(memory, seed, pfn + i, run.version);
    pfn += run.count;
  }
}

/** The pages a list of pattern runs covers. */
export function countPatternPages(runs: readonly PatternRun[]): number {
  let pages = 0;
  for (const run of runs) pages += run.count;
  return pages;
}

/**
 * Append the consecutive pattern pages of the guest with `seed` from `pfn` on (at most `max`)
 * to `out` as runs of one version; returns how many pages. Only compact memory knows its pages
 * as patterns.
 */
export function patternRuns(memory: GuestMemory, seed: number, pfn: number, max: number, out: PatternRun[]): number {
  return compactFor(memory, seed, pfn, max)?.patternRuns(pfn, max, out) ?? 0;
}

/** True when page `pfn` holds exactly what {@link writePatternPage} wrote at `version`. */
export function holdsPatternPage(memory: GuestMemory, seed: number, pfn: number, version: number): boolean {
  const compact = compactFor(memory, seed, pfn);
  if (compact) return compact.patternVersion(pfn) === version;
  fillPattern(scratchWords, { seed, pfn, version });
  return bytesEqual(memory.read(pfn * PAGE_SIZE, PAGE_SIZE), scratchBytes);
}
