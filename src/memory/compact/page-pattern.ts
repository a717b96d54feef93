/** The simulated guest's page contents: a pure function of (seed, pfn, version), recognisable from the bytes alone. */
import { bytesEqual } from '../bytes.js';
import { PAGE_SIZE } from '../guest-memory.js';

/** First word of every pattern page ("FHPG"); it also makes pattern pages non-zero. */
export const PATTERN_MAGIC = 0x47504846;
const WORDS = PAGE_SIZE / 4;

/** Who wrote a pattern page: a page's content is a pure function of these. */
export interface PatternId {
  readonly seed: number;
  readonly pfn: number;
  readonly version: number;
}

/**
 * Fill one page (1024 little-endian words) with the content a simulated guest writes to `pfn`
 * at `version`: a header naming (pfn, version, seed), then an xorshift32 stream seeded from
 * them. The magic word and every stream word are non-zero, so a pattern page is never
 * mistaken for a zero page, and the header lets a receiver recognise the page without storing it.
 */
export function fillPattern(words: Uint32Array, id: PatternId): void {
  words[0] = PATTERN_MAGIC;
  words[1] = id.pfn >>> 0;
  words[2] = id.version >>> 0;
  words[3] = id.seed >>> 0;
  let x = mix(id.seed, id.pfn, id.version);
  for (let i = 4; i < WORDS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
}

/** The pattern a page holds, if it holds one exactly. */
export function recognisePattern(page: Uint8Array, scratch = new Uint32Array(WORDS)): PatternId | undefined {
  if (page.length !== PAGE_SIZE) return undefined;
  const view = new DataView(page.buffer, page.byteOffset, PAGE_SIZE);
  if (view.getUint32(0, true) !== PATTERN_MAGIC) return undefined;
  const id = { pfn: view.getUint32(4, true), version: view.getUint32(8, true), seed: view.getUint32(12, true) };
  fillPattern(scratch, id);
  return bytesEqual(new Uint8Array(scratch.buffer, scratch.byteOffset, PAGE_SIZE), page) ? id : undefined;
}

/** A non-zero 32-bit start state from the three inputs (a murmur3-style finaliser). */
function mix(seed: number, pfn: number, version: number): number {
  let h = (seed ^ Math.imul(pfn, 0x9e3779b1) ^ Math.imul(version + 1, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0 || 1;
}
