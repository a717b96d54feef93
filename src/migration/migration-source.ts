/** What a precopy migration needs of its source VM, and what it reports: progress per round, the result, the hand-off to postcopy. */
import type { GuestMemory } from '../memory/guest-memory.js';
import type { PageBitmap } from '../memory/page-bitmap.js';
import type { MigrationError } from './errors.js';
import type { HintSource } from './hint-source.js';
import type { OverlayManager } from './overlay.js';

/** What the engine needs of the source VM (the simulator's Vm provides it). */
export interface MigrationSource {
  readonly memory: GuestMemory;
  /** The device that hints free pages (the balloon). */
  readonly hints: HintSource;
  /** Whether the guest runs free page reporting (the `report` strategy needs it). */
  readonly reportsFreePages: boolean;
  /**
   * Run the guest one step; returns the simulated milliseconds it took. A source may run more
   * steps at once, up to about `maxMs`, while its guest is quiet (see {@link quietMs}).
   */
  step(maxMs: number): number;
  /**
   * How long, up to about `maxMs`, the guest will certainly do nothing the host can see unless
   * the host reaches it first: no device access, no write to a page from `fromPfn` on (writes
   * below it are logged as ever). A batch that reads from `fromPfn` on may read that far ahead
   * at once, as reading page by page would find nothing changed. A source that does not say is never quiet.
   */
  quietMs?(maxMs: number, fromPfn: number): number;
  /** Stop the vCPUs, then the devices. */
  pause(): void;
  resume(): void;
  /** Device and guest state that travels in device records, by name. */
  deviceStates(): Record<string, unknown>;
  /** Hypervisor overlay pages, if the VM has any. */
  readonly overlays?: OverlayManager;
}

/** Per-round figures, as `progress$` emits them. */
export interface RoundProgress {
  readonly round: number;
  readonly remainingPages: number;
  readonly bytes: number;
  readonly simulatedMs: number;
}

/** What a migration did, in simulated time and on the wire. */
export interface MigrationResult {
  readonly status: 'completed' | 'cancelled' | 'failed';
  /** Set when the migration handed off to postcopy. */
  readonly handOff?: HandOff;
  /** Why it failed (status 'failed'). */
  readonly error?: MigrationError;
  readonly rounds: number;
  /** Dirty-bitmap syncs, the setup's included (QEMU's dirty-sync-count). */
  readonly syncs: number;
  readonly totalMs: number;
  readonly downtimeMs: number;
  /**
   * False when the guest stopped for longer than the downtime limit: the switchover was forced
   * by the round limit, or the guest dirtied more than the estimate allowed for before it stopped.
   */
  readonly downtimeLimitMet: boolean;
  readonly bytes: number;
  /** Records written to the stream (a run of pages in one record counts once). */
  readonly records: number;
  /** Pages sent whole. */
  readonly normalPages: number;
  /** Zero pages sent as header-only records. */
  readonly zeroPages: number;
  /** Zero pages not sent at all (zero-skip, first round, fresh destination). */
  readonly skippedZeroPages: number;
  /** Pages read that held data (not all zero), however they travelled. */
  readonly dataPages: number;
  /** Pages cleared from the bitmap by hints. */
  readonly hintedPages: number;
  readonly hintedRanges: number;
}

/** What a precopy that hands off to postcopy leaves: pages still to send, and hinted pages nobody wrote. */
export interface HandOff {
  readonly remaining: PageBitmap;
  /** Pages cleared by a hint and not written since: free in the guest, never sent. */
  readonly hintedClean: PageBitmap;
}

/** The device record that tells a destination what postcopy will still bring. */
export const HAND_OFF_RECORD = 'postcopy';
