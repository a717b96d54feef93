/** Hypervisor overlay pages (Hyper-V style): which one the guest sees, how they are saved and migrated. */
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { isZeroRange } from '../memory/zero-scan.js';

/**
 * Hypervisor-owned overlay pages (Hyper-V style), lowest priority first. When several overlays
 * cover one PFN the guest sees the highest-priority one. The order is part of saved states and
 * of the migration stream: append new kinds at the end, never reorder.
 */
export const OVERLAY_KINDS = ['synic-event', 'synic-message', 'tsc-reference', 'hypercall'] as const;
/** A hypervisor overlay page's kind. */
export type OverlayKind = (typeof OVERLAY_KINDS)[number];

/** An overlay is its kind and its parameters; its contents are derived, never stored. */
export interface Overlay {
  readonly kind: OverlayKind;
  /** Parameters (e.g. a TSC page's scale and offset), small unsigned integers. */
  readonly params: readonly number[];
}

/** Migration modes for overlays. */
export type OverlayMode = 'drop-at-pause' | 'ship-originals';

/** One overlaid page in a saved state: its overlays and, when shipped, its original contents. */
export interface OverlayPageState {
  readonly pfn: number;
  readonly overlays: readonly Overlay[];
  /** 'zero' for an all-zero original, else its bytes as base64; absent when not shipped. */
  readonly original?: 'zero' | string;
}

/** The contents an overlay shows: a header naming it, then words derived from its parameters. */
export function overlayContent(overlay: Overlay, pfn: number): Uint8Array {
  const words = new Uint32Array(PAGE_SIZE / 4);
  const kind = OVERLAY_KINDS.indexOf(overlay.kind);
  words[0] = 0x4f56524c; // "LRVO"
  words[1] = kind;
  words[2] = pfn >>> 0;
  // Stryker disable next-line ArithmeticOperator: any mixing of kind and pfn serves (the tests check the body depends on both)
  let x = (0x9e3779b9 ^ Math.imul(kind + 1, 0x85ebca6b) ^ pfn) >>> 0 || 1;
  overlay.params.forEach((p, i) => {
    words[3 + (i % 16)] = p >>> 0;
    // Stryker disable next-line ArithmeticOperator: any mixing of each parameter and its slot serves
    x = (x ^ Math.imul(p + i + 1, 0xcc9e2d51)) >>> 0 || 1;
  });
  // Stryker disable next-line EqualityOperator: a typed array ignores the write one past its end
  for (let i = 20; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return new Uint8Array(words.buffer);
}

/** Standard base64 with padding (what a saved state carries), without Node.js's `Buffer`. */
function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x2000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * The overlays of one VM. Installing the first overlay on a page keeps its original contents
 * (as 'zero' when it is all zero); the page then shows the active overlay; removing overlays
 * promotes the next one, and removing the last puts the original back.
 */
export class OverlayManager {
  private readonly pages = new Map<number, { overlays: Overlay[]; original: Uint8Array | 'zero' }>();

  constructor(private readonly memory: GuestMemory) {}

  /** Install (or replace) the overlay of `overlay.kind` on page `pfn`. */
  add(pfn: number, overlay: Overlay): void {
    if (!this.memory.contains(pfn * PAGE_SIZE, PAGE_SIZE)) throw new RangeError(`overlay page ${pfn} is not RAM`);
    let page = this.pages.get(pfn);
    if (page === undefined) {
      const bytes = this.memory.read(pfn * PAGE_SIZE, PAGE_SIZE);
      page = { overlays: [], original: isZeroRange(bytes, 0, PAGE_SIZE) ? 'zero' : bytes };
      this.pages.set(pfn, page);
    }
    page.overlays = [...page.overlays.filter((o) => o.kind !== overlay.kind), overlay];
    this.show(pfn);
  }

  /** Remove the overlay of `kind` from `pfn`; the next one shows, or the original. */
  remove(pfn: number, kind: OverlayKind): void {
    const page = this.pages.get(pfn);
    if (page === undefined) return;
    page.overlays = page.overlays.filter((o) => o.kind !== kind);
    this.show(pfn);
  }

  /** Remove every overlay: every page shows its original again. */
  removeAll(): void {
    for (const [pfn, page] of [...this.pages]) {
      page.overlays = [];
      this.show(pfn);
    }
  }

  /** The overlay the guest sees at `pfn`, if any. */
  active(pfn: number): Overlay | undefined {
    const overlays = this.pages.get(pfn)?.overlays ?? [];
    let best: Overlay | undefined;
    // Stryker disable next-line EqualityOperator: a page holds at most one overlay per kind, so kinds never tie
    for (const o of overlays) if (best === undefined || OVERLAY_KINDS.indexOf(o.kind) > OVERLAY_KINDS.indexOf(best.kind)) best = o;
    return best;
  }

  /** Overlaid pages, ascending. */
  pfns(): number[] {
    return [...this.pages.keys()].sort((a, b) => a - b);
  }

  /** How many pages are overlaid (no list built: a migration asks for every batch). */
  get size(): number {
    return this.pages.size;
  }

  has(pfn: number): boolean {
    return this.pages.has(pfn);
  }

  /** The overlays as plain data, with the originals when `withOriginals` (ship-originals). */
  save(withOriginals: boolean): OverlayPageState[] {
    return this.pfns().map((pfn) => {
      const page = this.pages.get(pfn)!;
      const original = page.original === 'zero' ? ('zero' as const) : toBase64(page.original);
      return { pfn, overlays: page.overlays.map((o) => ({ kind: o.kind, params: [...o.params] })), ...(withOriginals ? { original } : {}) };
    });
  }

  /**
   * Re-create saved overlays on a destination. With shipped originals they are written first;
   * without, the memory already holds them (the source dropped its overlays before the final
   * round, so RAM carried the originals).
   */
  restore(states: readonly OverlayPageState[]): void {
    for (const s of states) {
      if (s.original === 'zero') this.memory.fill(s.pfn * PAGE_SIZE, PAGE_SIZE, 0);
      else if (s.original !== undefined) this.memory.write(s.pfn * PAGE_SIZE, fromBase64(s.original));
      for (const o of s.overlays) {
        if (!OVERLAY_KINDS.includes(o.kind)) throw new RangeError(`unknown overlay kind ${String(o.kind)}`);
        this.add(s.pfn, o);
      }
    }
  }

  private show(pfn: number): void {
    const page = this.pages.get(pfn)!;
    const active = this.active(pfn);
    if (active !== undefined) {
      this.memory.write(pfn * PAGE_SIZE, overlayContent(active, pfn));
      return;
    }
    if (page.original === 'zero') this.memory.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0);
    else this.memory.write(pfn * PAGE_SIZE, page.original);
    this.pages.delete(pfn);
  }
}
