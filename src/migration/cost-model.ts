/**
 * The simulated cost of a migration on the source host: what the comparison reports. Each
 * constant is a physical figure of a host (see `sim/host-profile.ts` for the profiles and their
 * sources); none is fitted to one result.
 */
export interface CostModel {
  /**
   * Bytes per second the migration channel carries when nothing else limits it: one migration
   * thread copying records into a socket or a pipe. QEMU's single channel moves about
   * 10–15 Gbit/s on a 2018 Xeon (the reason multifd exists).
   */
  readonly bandwidth: number;
  /**
   * QEMU's `max-bandwidth`: bytes per second its rate limiter lets through, counted in windows
   * of 100 ms. Infinity: no limit (the published runs set "100G"). The stop-and-copy round is
   * never limited (QEMU lifts the limit at completion).
   */
  readonly maxBandwidth: number;
  /**
   * Bytes per second one migration thread gets through guest RAM when it looks at pages: per
   * 4 KiB page the bitmap walk, finding the block, buffer_is_zero and queueing a record.
   * Charged for every page the source reads, touched or not, as a real VMM pays it.
   */
  readonly scanRate: number;
  /** Fixed cost of one dirty-bitmap sync (KVM_GET_DIRTY_LOG ioctl round trip), ms. */
  readonly syncFixedMs: number;
  /** Cost of a sync per GiB of guest RAM (walking and clearing 32 KiB of bitmap per GiB), ms. */
  readonly syncPerGiBMs: number;
}

/**
 * Bytes on the wire per page, as QEMU's RAM stream carries them: an 8-byte address-and-flags
 * header and the page; a zero page is the header and one byte (RAM_SAVE_FLAG_ZERO).
 */
export const WIRE_PAGE_BYTES = 8 + 4096;
export const WIRE_ZERO_PAGE_BYTES = 8 + 1;

/** QEMU's BUFFER_DELAY: the rate limiter's window, and how often the thread's counters update. */
export const RATE_LIMIT_WINDOW_MS = 100;

/** The migration thread of a 2018 Xeon host (see `sim/host-profile.ts`, `kvm-xeon-2018`), unlimited. */
export const DEFAULT_COST_MODEL: CostModel = {
  bandwidth: 1.5e9,
  maxBandwidth: Number.POSITIVE_INFINITY,
  scanRate: 5.5e9,
  syncFixedMs: 0.05,
  syncPerGiBMs: 0.2,
};

/** A simulated clock that charges costs and lets the guest run while time passes. */
export class SimClock {
  /** Simulated milliseconds since the migration started. */
  nowMs = 0;
  private guestDebtMs = 0;
  private guestRunning = false;

  constructor(
    readonly cost: CostModel,
    /** Run the guest one step, or more while it is quiet, up to about `maxMs`; returns the ms that passed. */
    private readonly runGuest: (maxMs: number) => number,
  ) {}

  /** How far the guest has run ahead of the migration's clock (its last step ends after now). */
  get guestLeadMs(): number {
    return Math.max(0, -this.guestDebtMs);
  }

  /** Charge `ms` of migration time; the guest runs its steps in that time. */
  charge(ms: number): void {
    this.nowMs += ms;
    this.guestDebtMs += ms;
    // Costs charged from inside a guest step only add to the time owed.
    if (this.guestRunning) return;
    this.guestRunning = true;
    try {
      while (this.guestDebtMs > 0) {
        // Run the step before reading the debt: the step may add to it.
        const ranMs = this.runGuest(this.guestDebtMs);
        this.guestDebtMs -= ranMs;
      }
    } finally {
      this.guestRunning = false;
    }
  }

  send(bytes: number): void {
    this.charge(this.sendMs(bytes));
  }

  /** Milliseconds that sending `bytes` takes on the channel (nothing charged). */
  sendMs(bytes: number): number {
    return (bytes * 1000) / this.cost.bandwidth;
  }

  /** Milliseconds that reading `bytes` of guest RAM takes (nothing charged). */
  scanMs(bytes: number): number {
    return (bytes * 1000) / this.cost.scanRate;
  }

  /** Milliseconds one dirty-bitmap sync of `ramBytes` of RAM takes (nothing charged). */
  syncMs(ramBytes: number): number {
    return this.cost.syncFixedMs + (this.cost.syncPerGiBMs * ramBytes) / 2 ** 30;
  }

  sync(ramBytes: number): void {
    this.charge(this.syncMs(ramBytes));
  }

  /**
   * Milliseconds a page sent whole takes at the pace of a round: the thread's read and send, or
   * the rate limiter's share of a window, whichever is slower. QEMU's switchover test measures
   * its bandwidth this way, so the estimate counts the reading too.
   */
  roundPageMs(): number {
    const threadMs = this.scanMs(4096) + this.sendMs(WIRE_PAGE_BYTES);
    return Math.max(threadMs, (WIRE_PAGE_BYTES * 1000) / this.cost.maxBandwidth);
  }
}

/**
 * QEMU's rate limiter (`qemu_file_rate_limit` and `migration_rate_limit`): the thread sends
 * until a window's bytes are spent, then sleeps until the window ends, while the guest runs.
 * A window opens at the first check after the last one ended, so a thread busy past the end of
 * a window starts the next one late, as QEMU's does.
 */
export class RateLimiter {
  private windowStartMs = 0;
  private sentBytes = 0;
  /** Bytes one window lets through. */
  readonly windowBytes: number;

  constructor(bytesPerSecond: number, startMs = 0) {
    this.windowBytes = (bytesPerSecond * RATE_LIMIT_WINDOW_MS) / 1000;
    this.windowStartMs = startMs;
  }

  /** Bytes the thread may still send at `nowMs` (a new window opens if the last one is over). */
  room(nowMs: number): number {
    if (nowMs >= this.windowStartMs + RATE_LIMIT_WINDOW_MS) {
      this.windowStartMs = nowMs;
      this.sentBytes = 0;
    }
    return this.windowBytes - this.sentBytes;
  }

  /** Count bytes sent in the current window. */
  add(bytes: number): void {
    this.sentBytes += bytes;
  }

  /** Milliseconds from `nowMs` to the end of the current window. */
  waitMs(nowMs: number): number {
    return Math.max(0, this.windowStartMs + RATE_LIMIT_WINDOW_MS - nowMs);
  }
}
