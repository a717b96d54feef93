/**
 * Postcopy after a precopy hand-off (QEMU's postcopy with the preempt channel): the session
 * that joins the paused source and the running destination — background sending, faults and
 * their requests, and the rule that keeps huge pages whole.
 */
import type { GuestMemory } from '../memory/guest-memory.js';
import { DEFAULT_COST_MODEL, SimClock, type CostModel } from './cost-model.js';
import { MigrationError } from './errors.js';
import { PostcopyDestination, type ChannelTamper, type PlacementViolation, type PostcopyHandOff } from './postcopy-destination.js';
import { HugePages } from './postcopy-huge-pages.js';
import { PostcopySource } from './postcopy-source.js';
import { SAFE_POSTCOPY_RULES, type PostcopySafetyRules } from './safety-rules.js';

/** How hinted pages fare under postcopy. */
export type HintPolicy = 'refuse' | 'local-zero';

export interface PostcopyParams {
  /** Host huge page size in bytes (a power of two, 4 KiB for none). */
  readonly hugePageBytes: number;
  /** The postcopy channel may preempt the precopy channel's huge page in flight. */
  readonly preempt: boolean;
  /** One-way latency of the link, ms (the request goes one way, the page comes back). */
  readonly linkLatencyMs: number;
  readonly cost?: Partial<CostModel>;
  /** Break a channel (fault injection): return the bytes to deliver, or undefined to drop them. */
  readonly tamper?: ChannelTamper;
  /** The safety rule (tests pass a broken one); {@link SAFE_POSTCOPY_RULES} by default. */
  readonly rules?: PostcopySafetyRules;
}

/** Fault latencies, simulated ms. */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** What the postcopy phase cost: faults and their latency, bytes per channel, time. */
export interface PostcopyStats {
  /** Faults that went over the network, and their latency. */
  readonly faults: number;
  readonly faultLatencyMs: LatencySummary;
  /** Faults on hinted pages nobody wrote, satisfied with a zero page at the destination. */
  readonly resolvedLocally: number;
  /** Bytes each channel carried after the switchover. */
  readonly precopyChannelBytes: number;
  readonly postcopyChannelBytes: number;
  /** Simulated ms from the switchover until the last page arrived. */
  readonly postcopyMs: number;
  /** Requests dropped because the precopy channel was already sending that huge page. */
  readonly droppedRequests: number;
}

/**
 * Both ends of the postcopy phase. The guest runs on the destination at once, on
 * {@link guestMemory}; what it touches before it arrived faults, is requested over the return
 * path and sent on the postcopy channel, while the precopy channel streams the rest in the
 * background ({@link background}). Host huge pages travel whole, as runs of 4 KiB pages, and
 * are placed atomically; a request may preempt the huge page in flight on the precopy
 * channel, which resumes where it stopped, and a request for that very huge page is dropped:
 * the precopy channel finishes it (a huge page is never split across channels, I5).
 */
export class PostcopySession {
  /** Simulated ms since the switchover. */
  nowMs = 0;
  private readonly huge: HugePages;
  private readonly source: PostcopySource;
  private readonly destination: PostcopyDestination;
  /** Where the precopy channel looks for the next huge page to send. */
  private cursor = 0;
  private readonly latencies: number[] = [];
  private local = 0;
  private dropped = 0;
  private readonly rules: PostcopySafetyRules;

  constructor(
    source: GuestMemory,
    destination: GuestMemory,
    handOff: PostcopyHandOff,
    private readonly params: PostcopyParams,
  ) {
    this.huge = new HugePages(source, params.hugePageBytes);
    this.rules = params.rules ?? SAFE_POSTCOPY_RULES;
    // Stryker disable next-line ArrowFunction: the session only prices pages with its clock (sendMs, scanMs) and never charges it, so no guest step runs
    const clock = new SimClock({ ...DEFAULT_COST_MODEL, ...params.cost }, () => 0);
    this.destination = new PostcopyDestination(destination, this.huge, handOff, params.tamper, (gpa, length) => this.touch(gpa, length));
    this.source = new PostcopySource(source, this.huge, clock, (channel, chunk) => this.destination.deliver(channel, chunk));
  }

  /** Destination RAM as the guest sees it: an access first waits for its huge pages. */
  get guestMemory(): GuestMemory {
    return this.destination.guestMemory;
  }

  /** Huge pages split across channels or received twice (must stay empty). */
  get violations(): readonly PlacementViolation[] {
    return this.destination.violations;
  }

  /** Huge pages that have not arrived (a fault on a hinted one does not count: it never comes). */
  get remaining(): number {
    return this.destination.missing;
  }

  get stats(): PostcopyStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return {
      faults: this.latencies.length,
      faultLatencyMs: { p50: at(0.5), p99: at(0.99), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! },
      resolvedLocally: this.local,
      precopyChannelBytes: this.source.channelBytes('precopy'),
      postcopyChannelBytes: this.source.channelBytes('postcopy'),
      postcopyMs: this.nowMs,
      droppedRequests: this.dropped,
    };
  }

  /** The channel broke: the destination cannot fall back to the source any more. */
  get failed(): MigrationError | undefined {
    return this.destination.failed;
  }

  /**
   * The guest ran for `ms` (faults included): the precopy channel used that time to send, in
   * address order, huge page by huge page.
   */
  background(ms: number): void {
    let budget = ms;
    while (budget > 0 && this.destination.missing > 0 && !this.failed) {
      if (this.source.inFlight === undefined) {
        this.cursor = this.destination.nextMissing(this.cursor);
        if (this.cursor >= this.huge.count) return;
        this.source.startInFlight(this.cursor);
      }
      budget -= this.source.sendInFlight(budget);
    }
  }

  /** A guest access: every huge page it touches must be there first. */
  private touch(gpa: number, length: number): void {
    if (this.failed) throw this.failed;
    const first = Math.floor(gpa / this.params.hugePageBytes);
    const last = Math.floor((gpa + Math.max(1, length) - 1) / this.params.hugePageBytes);
    for (let h = first; h <= last && h < this.huge.count; h++) {
      if (this.destination.isPresent(h)) continue;
      this.fault(h);
      if (this.failed) throw this.failed;
    }
  }

  /** The vCPU stops until huge page `h` is placed. */
  private fault(h: number): void {
    if (this.destination.isHinted(h)) {
      // Free memory in the guest that nobody wrote since its hint: a zero page, no round trip.
      this.destination.placeZero(h);
      this.local++;
      return;
    }
    const started = this.nowMs;
    this.nowMs += this.params.linkLatencyMs; // the request on the return path
    if (this.source.inFlight === h && this.rules.requestForInFlight(h) === 'drop') {
      // The precopy channel is sending this huge page: it finishes it, we wait.
      this.dropped++;
      while (this.source.inFlight === h && !this.failed) this.nowMs += this.source.sendInFlight(Number.POSITIVE_INFINITY);
    } else {
      // Stryker disable next-line ConditionalExpression: with the safe rules a request for the huge page in flight was dropped above
      if (!this.params.preempt && this.source.inFlight !== undefined && this.source.inFlight !== h) {
        // One channel: the request waits behind the huge page being sent.
        this.nowMs += this.source.sendInFlight(Number.POSITIVE_INFINITY);
      }
      // With preemption the request has a channel of its own; without, it shares the one.
      this.source.sendRequested(h, this.params.preempt ? 'postcopy' : 'precopy', (ms) => (this.nowMs += ms));
    }
    this.nowMs += this.params.linkLatencyMs; // the last byte's way back
    if (!this.destination.isPresent(h)) this.destination.fail(new MigrationError('postcopy-failed', `huge page ${h} never arrived`));
    this.latencies.push(this.nowMs - started);
  }
}
