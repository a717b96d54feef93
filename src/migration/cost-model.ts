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
  /**
   * How long the migration thread holds the dirty bitmap's lock, which a free page hint needs
   * too: 'per-page' (QEMU before 6.1 took it for each page it cleared, so hints went in at
   * once) or 'per-iteration' (QEMU 6.1 on holds it for a whole turn of sending, up to 50 ms or
   * until the rate limit stops it; a hint waits until the thread lets go).
   */
  readonly bitmapLock: 'per-page' | 'per-iteration';
  /**
   * Threads besides the migration thread that work for every byte it sends, on the same host:
   * a stream piped to `cat` into a file is one; a socket the kernel sends from is none.
   */
  readonly sinkThreads: number;
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
  bitmapLock: 'per-page',
  sinkThreads: 0,
};

/** A simulated clock that charges costs and lets the guest run while time passes. */
export class SimClock {
  /** Simulated milliseconds since the migration started. */
  nowMs = 0;
  /** The share of a core the migration thread gets (1: all of one); its work takes 1/speed longer. */
  speed = 1;
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
    return (bytes * 1000) / this.cost.bandwidth / this.speed;
  }

  /** Milliseconds that reading `bytes` of guest RAM takes (nothing charged). */
  scanMs(bytes: number): number {
    return (bytes * 1000) / this.cost.scanRate / this.speed;
  }

  /** Milliseconds one dirty-bitmap sync of `ramBytes` of RAM takes (nothing charged). */
  syncMs(ramBytes: number): number {
    return this.cost.syncFixedMs + (this.cost.syncPerGiBMs * ramBytes) / 2 ** 30;
  }

  sync(ramBytes: number): void {
    this.charge(this.syncMs(ramBytes));
  }
}

/**
 * The migration thread's transfer counters, as QEMU keeps them (`migration_update_counters`,
 * `qemu_file_rate_limit`): periods of at least 100 ms, each of which measures the bandwidth
 * the thread achieved — bytes on the wire over elapsed time, so reading and sleeping count —
 * and gives the rate limiter a fresh window of max-bandwidth × 100 ms. A period ends at the
 * first update 100 ms or more after it began, so a thread busy past the end starts the next
 * one late, as QEMU's does.
 */
export class TransferMeter {
  private periodStartMs: number;
  private periodStartBytes: number;
  /** Bytes one window lets through (Infinity without a limit). */
  readonly windowBytes: number;
  /** Bytes per ms of the last whole period; 0 until one ended (QEMU's threshold starts at 0). */
  bytesPerMs = 0;

  constructor(maxBandwidth: number, startMs = 0, startBytes = 0) {
    this.windowBytes = (maxBandwidth * RATE_LIMIT_WINDOW_MS) / 1000;
    this.periodStartMs = startMs;
    this.periodStartBytes = startBytes;
  }

  /** At `nowMs` with `bytes` sent in all: if the period is over, measure it and start the next. */
  update(nowMs: number, bytes: number): void {
    // A thread that slept to the end of the period is there, whatever the rounding of the sleep.
    if (nowMs < this.periodStartMs + RATE_LIMIT_WINDOW_MS - 1e-9) return;
    this.bytesPerMs = (bytes - this.periodStartBytes) / (nowMs - this.periodStartMs);
    this.periodStartMs = nowMs;
    this.periodStartBytes = bytes;
  }

  /** Bytes the rate limiter still lets through in this period, given `bytes` sent in all. */
  room(bytes: number): number {
    return this.windowBytes - (bytes - this.periodStartBytes);
  }

  /** Milliseconds from `nowMs` to the end of the current period. */
  waitMs(nowMs: number): number {
    return Math.max(0, this.periodStartMs + RATE_LIMIT_WINDOW_MS - nowMs);
  }
}
