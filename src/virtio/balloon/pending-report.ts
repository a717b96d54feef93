import type { GuestMemory } from '../../memory/guest-memory.js';
import { BALLOON_PAGE_SIZE } from './constants.js';
import type { PageRange } from './ranges.js';

/** Where a report's discarding stands, as plain data for save/restore. */
export interface PendingReportState {
  /** Head of the chain, returned to the driver once every page is discarded. */
  readonly head: number;
  /** The whole pages of the report, as [gpa, length] pairs. */
  readonly ranges: ReadonlyArray<readonly [number, number]>;
  /** The range being discarded, and how many of its bytes already are. */
  readonly range: number;
  readonly offset: number;
}

/**
 * A free page report whose pages are being discarded. One report may cover 128 MiB (32 blocks
 * of 4 MiB), more than one guest action may cost, so the device discards it a budget's worth
 * at a time and returns the chain only when every page is gone (H15: the driver may reuse the
 * pages once it has the buffer back).
 */
export class PendingReport {
  #range: number;
  #offset: number;

  constructor(
    readonly head: number,
    readonly ranges: readonly PageRange[],
    range = 0,
    offset = 0,
  ) {
    this.#range = range;
    this.#offset = offset;
  }

  get done(): boolean {
    return this.#range >= this.ranges.length;
  }

  /**
   * Discard up to `pages` more pages and return how many it discarded. Without `discard` (the
   * host inhibits it, or the pages must keep a poison value) there is nothing to do: done.
   */
  advance(memory: GuestMemory, pages: number, discard: boolean): number {
    if (!discard) {
      this.#range = this.ranges.length;
      return 0;
    }
    let left = pages;
    while (!this.done && left > 0) {
      const r = this.ranges[this.#range]!;
      const bytes = Math.min(r.length - this.#offset, left * BALLOON_PAGE_SIZE);
      memory.discard(r.gpa + this.#offset, bytes);
      left -= bytes / BALLOON_PAGE_SIZE;
      this.#offset += bytes;
      if (this.#offset === r.length) {
        this.#range++;
        this.#offset = 0;
      }
    }
    return pages - left;
  }

  save(): PendingReportState {
    return { head: this.head, ranges: this.ranges.map((r) => [r.gpa, r.length] as const), range: this.#range, offset: this.#offset };
  }
}
