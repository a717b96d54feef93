/**
 * The simulated cost of a migration: what the comparison reports. Each constant is a physical
 * figure (see the notes); none is fitted to one published result alone.
 */
export interface CostModel {
  /**
   * Bytes per second the migration stream moves. The published runs set max-bandwidth to
   * "100G", i.e. no cap, so what bounds it is the one migration thread copying pages into a
   * socket: QEMU's single channel moves about 10–15 Gbit/s (the reason multifd exists). The
   * default, 1.5 GB/s (12 Gbit/s), sits in that range; a 10 GbE link would be 1.25 GB/s.
   */
  readonly bandwidth: number;
  /**
   * Bytes per second one migration thread gets through guest RAM when it looks at pages: per
   * 4 KiB page the bitmap walk, finding the block, buffer_is_zero and queueing a record, about
   * 0.75 µs on a 2.2 GHz Broadwell Xeon (5.5 GB/s). Charged for every page the source reads,
   * touched or not, as a real VMM pays it; a never-touched page still maps the zero page.
   */
  readonly scanRate: number;
  /** Fixed cost of one dirty-bitmap sync (KVM_GET_DIRTY_LOG ioctl round trip), ms. */
  readonly syncFixedMs: number;
  /** Cost of a sync per GiB of guest RAM (walking and clearing 32 KiB of bitmap per GiB), ms. */
  readonly syncPerGiBMs: number;
  /** Cost of applying one hint range (bitmap clear under the bitmap mutex), µs. */
  readonly hintRangeUs: number;
}

/**
 * Bytes on the wire per page, as QEMU's RAM stream carries them: an 8-byte address-and-flags
 * header and the page; a zero page is the header and one byte (RAM_SAVE_FLAG_ZERO).
 */
export const WIRE_PAGE_BYTES = 8 + 4096;
export const WIRE_ZERO_PAGE_BYTES = 8 + 1;

export const DEFAULT_COST_MODEL: CostModel = {
  bandwidth: 1.5e9,
  scanRate: 5.5e9,
  syncFixedMs: 0.05,
  syncPerGiBMs: 0.2,
  hintRangeUs: 1,
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
    // Costs charged from inside a guest step (a hint arriving) only add to the time owed.
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

  /** Milliseconds that sending `bytes` takes (nothing charged). */
  sendMs(bytes: number): number {
    return (bytes * 1000) / this.cost.bandwidth;
  }

  /** Milliseconds that reading `bytes` of guest RAM takes (nothing charged). */
  scanMs(bytes: number): number {
    return (bytes * 1000) / this.cost.scanRate;
  }

  sync(ramBytes: number): void {
    this.charge(this.cost.syncFixedMs + (this.cost.syncPerGiBMs * ramBytes) / 2 ** 30);
  }

  hint(ranges: number): void {
    this.charge((this.cost.hintRangeUs * ranges) / 1000);
  }
}
