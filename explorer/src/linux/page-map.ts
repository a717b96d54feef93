/**
 * What a migration's dirty bitmap would hold for each page of the guest, with the hints that
 * cleared it. v86 keeps no dirty log of the guest's own writes, so a sync finds them by content:
 * a page whose bytes changed since the previous sync was written (a rewrite with the same bytes
 * goes unseen, which a dirty log would catch). The first sync marks every page of RAM, as a
 * precopy's bulk round does.
 */
import type { PageRange } from 'freehint';

const PAGE = 4096;

export const PageState = {
  /** Not RAM (the legacy VGA/BIOS hole). */
  Hole: 0,
  /** Not in the bitmap: unchanged since the last sync. */
  Clean: 1,
  /** In the bitmap: a migration would read and send it. */
  Dirty: 2,
  /** Cleared from the bitmap by a hint of the current round. */
  Hinted: 3,
  /** Hinted in an earlier round and still held by the driver (unwritten since). */
  Held: 4,
} as const;
export type PageState = (typeof PageState)[keyof typeof PageState];

/** Per-page hashes over the guest's RAM, compared sync to sync. */
export class PageMap {
  readonly pages: number;
  readonly states: Uint8Array;
  #hashes: Uint32Array | undefined;

  constructor(ramBytes: number, isRam: (gpa: number) => boolean) {
    this.pages = ramBytes / PAGE;
    this.states = new Uint8Array(this.pages);
    for (let pfn = 0; pfn < this.pages; pfn++) this.states[pfn] = isRam(pfn * PAGE) ? PageState.Clean : PageState.Hole;
  }

  /** How many pages are in `state`. */
  count(state: PageState): number {
    let n = 0;
    for (const s of this.states) if (s === state) n++;
    return n;
  }

  /**
   * A bitmap sync: every page written since the last sync becomes dirty; what the last round
   * hinted is held by the driver unless written since. Works in slices between which the
   * emulator runs, so the page (and the guest) keep going; `ram()` is asked per slice because
   * v86's memory may move.
   */
  async sync(ram: () => Uint8Array, slicePages = 2048): Promise<number> {
    const first = this.#hashes === undefined;
    const hashes = (this.#hashes ??= new Uint32Array(this.pages));
    let dirty = 0;
    for (let start = 0; start < this.pages; start += slicePages) {
      const bytes = ram();
      const words = new Uint32Array(bytes.buffer, bytes.byteOffset, Math.floor(bytes.byteLength / 4));
      const end = Math.min(this.pages, start + slicePages);
      for (let pfn = start; pfn < end; pfn++) {
        if (this.states[pfn] === PageState.Hole) continue;
        // FNV-1a over the page's words: collisions are far rarer than anything on this map.
        let h = 0x811c9dc5;
        for (let w = pfn * 1024, stop = w + 1024; w < stop; w++) h = Math.imul(h ^ words[w]!, 0x01000193);
        const written = first || hashes[pfn] !== h >>> 0;
        hashes[pfn] = h >>> 0;
        const was = this.states[pfn]!;
        const now: PageState = written ? PageState.Dirty : was === PageState.Hinted || was === PageState.Held ? PageState.Held : PageState.Clean;
        this.states[pfn] = now;
        if (now === PageState.Dirty) dirty++;
      }
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return dirty;
  }

  /** Clear hinted ranges from the bitmap; returns how many pages they cleared. */
  hint(ranges: readonly PageRange[]): number {
    let cleared = 0;
    for (const { gpa, length } of ranges) {
      for (let pfn = Math.ceil(gpa / PAGE), end = Math.min(this.pages, Math.floor((gpa + length) / PAGE)); pfn < end; pfn++) {
        if (this.states[pfn] === PageState.Hole) continue;
        if (this.states[pfn] === PageState.Dirty) cleared++;
        this.states[pfn] = PageState.Hinted;
      }
    }
    return cleared;
  }

  /** The driver gave its held pages back (DONE): they are ordinary clean pages again. */
  released(): void {
    for (let pfn = 0; pfn < this.pages; pfn++) if (this.states[pfn] === PageState.Held || this.states[pfn] === PageState.Hinted) this.states[pfn] = PageState.Clean;
  }
}
