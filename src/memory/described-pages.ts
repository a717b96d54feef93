/**
 * Pages by description (the page seam): reading and writing pages as fill bytes and pattern
 * runs through a memory's {@link PageDescriber} when it has one, by their bytes when it has
 * not. The migration's page sender, destination and postcopy, and the simulated guest, use
 * these and never ask what kind of memory they hold.
 */
import { fillPattern, recognisePattern } from './compact/page-pattern.js';
import { bytesEqual } from './bytes.js';
import { PAGE_SIZE, type GuestMemory, type PageDescription, type PatternRun } from './guest-memory.js';
import { isZeroRange } from './zero-scan.js';

const scratchWords = new Uint32Array(PAGE_SIZE / 4);
const scratchBytes = new Uint8Array(scratchWords.buffer);

const ZERO_FILL: PageDescription = { fill: 0 };

/** The memory's describer, if it stores the pattern pages of the guest with `seed` by description. */
function describerFor(memory: GuestMemory, seed: number) {
  const describer = memory.describer;
  return describer !== undefined && describer.patternSeed === seed >>> 0 ? describer : undefined;
}

/**
 * What page `pfn` holds, when a short exact description exists; undefined when only its bytes
 * say it. Cheap with a describer; a zero check otherwise.
 */
export function describePage(memory: GuestMemory, pfn: number): PageDescription | undefined {
  const describer = memory.describer;
  if (describer === undefined) return memory.isZeroPage(pfn) ? ZERO_FILL : undefined;
  return describer.describe(pfn);
}

/**
 * What a received page's bytes describe, read at `pfn`: a pattern page of that pfn, or a zero
 * page; undefined for anything else. A destination keeps what it stages this compact.
 */
export function describeBytes(bytes: Uint8Array, pfn: number): PageDescription | undefined {
  const id = recognisePattern(bytes, scratchWords);
  if (id !== undefined && id.pfn === pfn) return { seed: id.seed, version: id.version };
  return isZeroRange(bytes, 0, bytes.length) ? ZERO_FILL : undefined;
}

/**
 * How many pages from `pfn` on read as zero, counting at most `max` (all RAM). With a
 * describer a run of untouched pages costs what its descriptors cost, not a page each.
 */
export function zeroRunLength(memory: GuestMemory, pfn: number, max: number): number {
  const describer = memory.describer;
  let n = describer ? describer.zeroRun(pfn, max) : 0;
  // Pages stored as bytes may still be zero: check those one by one.
  while (n < max && memory.isZeroPage(pfn + n)) {
    n++;
    if (describer) n += describer.zeroRun(pfn + n, max - n);
  }
  return n;
}

/** The pages a list of pattern runs covers. */
export function countPatternPages(runs: readonly PatternRun[]): number {
  let pages = 0;
  for (const run of runs) pages += run.count;
  return pages;
}

/**
 * Append the consecutive pattern pages of the guest with `seed` from `pfn` on (at most `max`)
 * to `out` as runs of one version; returns how many pages. Only a memory with a describer for
 * that guest knows its pages as patterns.
 */
export function patternRuns(memory: GuestMemory, seed: number, pfn: number, max: number, out: PatternRun[]): number {
  return describerFor(memory, seed)?.patternRuns(pfn, max, out) ?? 0;
}

/** Write pattern pages of the guest with `seed` from `pfn` on, run after run (a destination's bulk write). */
export function writePatternRuns(memory: GuestMemory, seed: number, pfn: number, runs: readonly PatternRun[]): void {
  const describer = describerFor(memory, seed);
  if (describer) {
    describer.writePatternRuns(pfn, runs);
    return;
  }
  for (const run of runs) {
    for (let i = 0; i < run.count; i++) {
      fillPattern(scratchWords, { seed, pfn: pfn + i, version: run.version });
      memory.write((pfn + i) * PAGE_SIZE, scratchBytes);
    }
    pfn += run.count;
  }
}

/** Write the content the guest with `seed` gives page `pfn` at `version`. */
export function writePatternPage(memory: GuestMemory, seed: number, pfn: number, version: number): void {
  writePatternRuns(memory, seed, pfn, [{ count: 1, version }]);
}

/** True when page `pfn` holds exactly what {@link writePatternPage} wrote at `version`. */
export function holdsPatternPage(memory: GuestMemory, seed: number, pfn: number, version: number): boolean {
  const describer = describerFor(memory, seed);
  if (describer) {
    const d = describer.describe(pfn);
    return d !== undefined && 'version' in d && d.version === version;
  }
  fillPattern(scratchWords, { seed, pfn, version });
  return bytesEqual(memory.read(pfn * PAGE_SIZE, PAGE_SIZE), scratchBytes);
}
