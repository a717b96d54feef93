/**
 * The hint window: the host side of free page hinting in a precopy migration, where a hint
 * from the device becomes cleared bits of the dirty bitmap (QEMU's precopy notifier and its
 * bitmap clearing).
 */
import type { Subscription } from 'rxjs';
import { PAGE_SIZE } from '../memory/guest-memory.js';
import { PageBitmap } from '../memory/page-bitmap.js';
import type { HintBatch, HintSource } from './hint-source.js';
import type { HintWindowView, PrecopySafetyRules } from './safety-rules.js';

/**
 * Hints arrive from a {@link HintSource} under a command id. One clears bits of the migration's
 * dirty bitmap only while the window is open — from the end of a sync to the start of the
 * next, for the id issued at that sync (I2) — and not while the migration thread holds the
 * bitmap's lock for a turn: then it waits for the turn's end, still in its round. Hinting
 * stops before every sync ({@link beforeSync}), starts again after it while the VM runs and
 * ends with DONE at the final sync ({@link afterSync}), and DONE again on any ending ({@link end}, H5).
 */
export class HintWindow implements HintWindowView {
  // Stryker disable next-line BooleanLiteral: hinting starts at the first sync, which sets the window, so no hint comes before
  open = false;
  cmdId: number | undefined;
  /** Pages cleared by hints. */
  hintedPages = 0;
  /** Ranges the hints that cleared bits carried. */
  hintedRanges = 0;
  /** Hinted pages not written since their hint (kept for a hand-off to postcopy). */
  readonly hintedClean: PageBitmap;
  /** While true the migration thread holds the bitmap lock for a turn, and hints wait (see CostModel.bitmapLock). */
  private lockHeld = false;
  private readonly waiting: HintBatch[] = [];
  private subscription: Subscription | undefined;

  /**
   * @param hinting whether the migration asks for hints (the `hint` strategy); without it the
   *   window never opens, but DONE still goes out at the end.
   * @param cleanPages the size of {@link hintedClean}: the RAM's pages, or 0 when nothing needs it.
   */
  constructor(
    private readonly source: HintSource,
    private readonly bitmap: PageBitmap,
    private readonly rules: PrecopySafetyRules,
    private readonly hinting: boolean,
    cleanPages: number,
  ) {
    this.hintedClean = new PageBitmap(cleanPages);
  }

  /** Listen to the source's hints; each goes through the rules (which call {@link clear}). */
  begin(): void {
    this.subscription = this.source.hints$.subscribe((batch) => this.rules.onHint(batch, this));
  }

  /** Clear the hinted pages from the bitmap now, or when the migration thread lets go of it. */
  clear(batch: HintBatch): void {
    if (this.lockHeld) {
      this.waiting.push(batch);
      return;
    }
    for (const r of batch.ranges) {
      this.hintedPages += this.bitmap.deleteRange(r.gpa / PAGE_SIZE, r.length / PAGE_SIZE);
      this.hintedClean.addRange(r.gpa / PAGE_SIZE, r.length / PAGE_SIZE);
    }
    this.hintedRanges += batch.ranges.length;
  }

  /**
   * BEFORE_BITMAP_SYNC: hinting stops before the dirty log (`dirtyWords`) is merged, so no hint
   * may clear a bit the sync sets; pages written since their hint are no longer clean.
   */
  beforeSync(dirtyWords: Uint32Array): void {
    if (this.hinting) {
      this.source.stopHinting();
      // Stryker disable next-line BooleanLiteral: the source publishes no hint after stopHinting returns; closing the window is defence in depth
      this.open = false;
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator: subtracting from a bitmap of no pages changes nothing (the test only saves a call)
    if (this.hintedClean.pageCount > 0) this.rules.forgetWritten(this.hintedClean, dirtyWords);
  }

  /** AFTER_BITMAP_SYNC: a new round with a new command id while the VM runs; with the VM stopped (the final sync), DONE. */
  afterSync(vmRunning: boolean): void {
    this.rules.afterSync(this);
    if (!this.hinting) return;
    if (vmRunning) {
      this.cmdId = this.source.startHinting();
      // Stryker disable next-line ConditionalExpression: without an id no hint can match the window's cmdId (undefined) anyway
      this.open = this.cmdId !== undefined;
    } else {
      this.source.doneHinting();
    }
  }

  /** The migration thread takes the bitmap's lock for a turn (QEMU ≥ 6.1): hints wait. */
  lockBitmap(): void {
    this.lockHeld = true;
  }

  /** The thread lets go of the bitmap: the hints that waited for it go in, still in their round. */
  unlockBitmap(): void {
    this.lockHeld = false;
    for (const batch of this.waiting.splice(0)) this.clear(batch);
  }

  /** The migration ended, however it ended: stop listening, and let the guest have its hinted pages back (H5). */
  end(): void {
    this.subscription?.unsubscribe();
    this.rules.cleanup(this.source);
  }
}
