/** Guest-physical ranges rounded inward to whole pages. */
import { PAGE_SIZE } from '../../memory/guest-memory.js';
import type { Segment } from '../descriptor-chain.js';

/** A page-aligned guest-physical range. */
export interface PageRange {
  readonly gpa: number;
  readonly length: number;
}

/**
 * The whole pages inside a segment, or undefined when it covers none. Rounded inward: a page
 * that is only partly covered is never hinted or discarded (H10; QEMU rounds the length down
 * from an unaligned start, which can take in a partly covered page).
 */
export function wholePages(segment: Segment): PageRange | undefined {
  const start = Math.ceil(segment.gpa / PAGE_SIZE) * PAGE_SIZE;
  const end = Math.floor((segment.gpa + segment.length) / PAGE_SIZE) * PAGE_SIZE;
  return end > start ? { gpa: start, length: end - start } : undefined;
}
