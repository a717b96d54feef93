/**
 * The migration engines' safety rules, each a small function named after the invariant it
 * keeps (docs/invariants.md). The engines call them at the points where a rule applies; tests
 * pass broken variants to show that the properties catch each one. Everyone else uses
 * {@link SAFE_PRECOPY_RULES} and {@link SAFE_POSTCOPY_RULES}.
 */
import type { PageBitmap } from '../memory/page-bitmap.js';
import type { HintBatch, HintSource } from './hint-source.js';
import type { OverlayManager } from './overlay.js';

/** What the rules see of the hint window: whether it is open, for which command id, and the one way to clear bits with a hint. */
export interface HintWindowView {
  /** True between a sync's end and the next sync's start, while the VM runs and the device took the command. */
  readonly open: boolean;
  readonly cmdId: number | undefined;
  clear(batch: HintBatch): void;
}

/** The rules of precopy. */
export interface PrecopySafetyRules {
  /** A hint arrived: clear its pages if it belongs to the current round's window (I2). */
  onHint(batch: HintBatch, window: HintWindowView): void;
  /** Called right after each bitmap sync. */
  afterSync(window: HintWindowView): void;
  /** May zero pages be skipped in this round? (I3) */
  maySkipZero(round: number, destinationFresh: boolean): boolean;
  /** The migration ended, however it ended: release the guest's hinted pages (H5). */
  cleanup(source: HintSource): void;
  /** drop-at-pause: with the vCPUs stopped, remove every overlay so RAM carries the originals (I4). */
  dropOverlays(overlays: OverlayManager): void;
  /** At each sync, before the dirty log is merged: pages written since their hint are no longer clean (I5). */
  forgetWritten(hintedClean: PageBitmap, dirtyWords: Uint32Array): void;
}

/** The precopy rules that keep I2 and I3: hints only in an open window, for its command id; zero skip only in the bulk round onto a fresh destination. */
export const SAFE_PRECOPY_RULES: PrecopySafetyRules = {
  onHint(batch, window) {
    if (window.open && batch.cmdId === window.cmdId) window.clear(batch);
  },
  afterSync() {},
  maySkipZero(round, destinationFresh) {
    return round === 1 && destinationFresh;
  },
  cleanup(source) {
    source.doneHinting();
  },
  dropOverlays(overlays) {
    overlays.removeAll();
  },
  forgetWritten(hintedClean, dirtyWords) {
    hintedClean.subtractWords(dirtyWords);
  },
};

/** The rule of postcopy that keeps huge pages whole (I5). */
export interface PostcopySafetyRules {
  /** A fault on huge page `huge`, which the precopy channel has partly sent: drop the request (the precopy channel finishes it) or send the rest now. */
  requestForInFlight(huge: number): 'drop' | 'send-rest';
}

/** The postcopy rule that keeps I5: a request for the huge page in flight is dropped, never split across channels. */
export const SAFE_POSTCOPY_RULES: PostcopySafetyRules = {
  requestForInFlight: () => 'drop',
};
