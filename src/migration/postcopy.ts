import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { DelegatingMemory } from '../memory/delegating-memory.js';
import { countPatternPages, writePatternRuns } from '../memory/described-pages.js';
import type { PageBitmap } from '../memory/page-bitmap.js';
import { DEFAULT_COST_MODEL, SimClock, type CostModel } from './cost-model.js';
import { MigrationError } from './errors.js';
import { PageSender, type ZeroPolicy } from './page-sender.js';
import { SAFE_POSTCOPY_RULES, type PostcopySafetyRules } from './safety-rules.js';
import { StreamReader, StreamWriter, type StreamRecord } from './stream.js';

/**
 * Postcopy after a precopy hand-off (QEMU's postcopy with the preempt channel). The guest runs
 * on the destination at once; what it touches before it arrived faults, is requested over the
 * return path and sent on the postcopy channel, while the precopy channel streams the rest in
 * the background. Host huge pages travel whole, as runs of 4 KiB pages, and are placed
 * atomically; a request may preempt the huge page in flight on the precopy channel, which
 * resumes where it stopped, and a request for that very huge page is dropped: the precopy
 * channel finishes it (a huge page is never split across channels).
 */

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
  readonly tamper?: (channel: Channel, chunk: Uint8Array, index: number) => Uint8Array | undefined;
  /** The safety rule (tests pass a broken one); {@link SAFE_POSTCOPY_RULES} by default. */
  readonly rules?: PostcopySafetyRules;
}

export type Channel = 'precopy' | 'postcopy';

/** Fault latencies, simulated ms. */
export interface LatencySummary {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

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

/** Where a huge page stands on the destination. */
const Huge = { PRESENT: 0, MISSING: 1, HINTED: 2 } as const;

/** Something wrong the destination saw: a huge page split across channels, or a page twice. */
export interface PlacementViolation {
  readonly huge: number;
  readonly problem: 'split' | 'twice';
}

/**
 * Both ends of the postcopy phase. The source is paused; its pages no longer change. The
 * destination's guest runs on {@link guestMemory}, which faults on huge pages not placed yet.
 */
export class PostcopySession {
  readonly guestMemory: GuestMemory;
  readonly violations: PlacementViolation[] = [];
  /** Simulated ms since the switchover. */
  nowMs = 0;
  private readonly state: Uint8Array;
  private readonly pagesPerHuge: number;
  private readonly clock: SimClock;
  private readonly senders: Record<Channel, PageSender>;
  private readonly readers: Record<Channel, StreamReader>;
  private readonly chunks: Record<Channel, number> = { precopy: 0, postcopy: 0 };
  /** Per huge page being received: the channel and the 4 KiB records that arrived so far. */
  private readonly arriving = new Map<number, { channel: Channel; records: StreamRecord[]; pages: number }>();
  private readonly delivered = new Map<number, Channel>();
  /** The precopy channel's huge page in flight and its next page. */
  private inFlight: { huge: number; next: number } | undefined;
  private cursor = 0;
  private missing = 0;
  private readonly latencies: number[] = [];
  private local = 0;
  private dropped = 0;
  private failure: MigrationError | undefined;
  private readonly rules: PostcopySafetyRules;
  private readonly policy: ZeroPolicy = { detectZero: true, skipZero: false };

  constructor(
    private readonly source: GuestMemory,
    private readonly destination: GuestMemory,
    handOff: { readonly remaining: PageBitmap; readonly hintedClean: PageBitmap | undefined },
    private readonly params: PostcopyParams,
  ) {
    const huge = params.hugePageBytes;
    if (!Number.isInteger(huge) || huge < PAGE_SIZE || (huge & (huge - 1)) !== 0) throw new RangeError(`huge page size ${huge}: expected a power of two from 4096`);
    this.pagesPerHuge = huge / PAGE_SIZE;
    this.rules = params.rules ?? SAFE_POSTCOPY_RULES;
    // Stryker disable next-line ArrowFunction: the session only prices pages with its clock (sendMs, scanMs) and never charges it, so no guest step runs
    this.clock = new SimClock({ ...DEFAULT_COST_MODEL, ...params.cost }, () => 0);
    const hugeCount = Math.ceil(source.end / huge);
    this.state = new Uint8Array(hugeCount);
    // A huge page is missing if any of its pages still has to come; hinted if all of its RAM
    // pages are hinted and clean (its contents are free memory: a zero page will do).
    let nextRemaining = handOff.remaining.nextSet(0);
    // Stryker disable next-line EqualityOperator: one turn past the end finds no remaining page there, and a typed array drops the write past its end
    for (let h = 0; h < hugeCount; h++) {
      const first = h * this.pagesPerHuge;
      const last = Math.min(first + this.pagesPerHuge, source.end / PAGE_SIZE);
      if (nextRemaining >= 0 && nextRemaining < last) {
        this.state[h] = Huge.MISSING;
        this.missing++;
        nextRemaining = handOff.remaining.nextSet(last);
      } else if (handOff.hintedClean && handOff.hintedClean.nextClear(first, last) === last && this.isRam(first, last)) {
        this.state[h] = Huge.HINTED;
      }
    }
    const reader = (channel: Channel): StreamReader => new StreamReader((record) => this.receive(channel, record));
    // Stryker disable next-line StringLiteral: receive only compares a record's channel with the first one of its huge page; any two distinct names serve
    this.readers = { precopy: reader('precopy'), postcopy: reader('postcopy') };
    const sender = (channel: Channel): PageSender => {
      const writer = new StreamWriter((chunk) => this.deliver(channel, chunk));
      writer.header(source.end);
      return new PageSender(source, writer, this.clock, undefined);
    };
    this.senders = { precopy: sender('precopy'), postcopy: sender('postcopy') };
    this.guestMemory = new FaultingMemory(destination, (gpa, length) => this.touch(gpa, length));
  }

  /** Huge pages that have not arrived (a fault on a hinted one does not count: it never comes). */
  get remaining(): number {
    return this.missing;
  }

  get stats(): PostcopyStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return {
      faults: this.latencies.length,
      faultLatencyMs: { p50: at(0.5), p99: at(0.99), max: sorted.length === 0 ? 0 : sorted[sorted.length - 1]! },
      resolvedLocally: this.local,
      precopyChannelBytes: this.senders.precopy.wireBytes,
      postcopyChannelBytes: this.senders.postcopy.wireBytes,
      postcopyMs: this.nowMs,
      droppedRequests: this.dropped,
    };
  }

  /** The channel broke: the destination cannot fall back to the source any more. */
  get failed(): MigrationError | undefined {
    return this.failure;
  }

  /**
   * The guest ran for `ms` (faults included): the precopy channel used that time to send, in
   * address order, huge page by huge page.
   */
  background(ms: number): void {
    let budget = ms;
    while (budget > 0 && this.missing > 0 && !this.failure) {
      if (this.inFlight === undefined) {
        while (this.cursor < this.state.length && this.state[this.cursor] !== Huge.MISSING) this.cursor++;
        if (this.cursor >= this.state.length) return;
        this.inFlight = { huge: this.cursor, next: this.cursor * this.pagesPerHuge };
      }
      budget -= this.sendInFlight(budget);
    }
  }

  /**
   * Send the precopy channel's huge page in flight for up to `budgetMs`; returns the time used.
   * In the background that time runs alongside the guest; the caller counts it.
   */
  private sendInFlight(budgetMs: number): number {
    const flight = this.inFlight!;
    const end = this.hugeEnd(flight.huge);
    const run = this.ramRun(flight.next, end);
    let ms = 0;
    // Stryker disable next-line ConditionalExpression: a missing huge page always has RAM pages left while it is in flight
    if (run !== undefined) {
      const sent = this.senders.precopy.send(run.first, run.end, this.policy, budgetMs);
      this.senders.precopy.flush();
      flight.next = sent.next;
      ms = sent.ms;
    }
    if (this.ramRun(flight.next, end) === undefined) this.inFlight = undefined;
    return ms;
  }

  /** A guest access: every huge page it touches must be there first. */
  private touch(gpa: number, length: number): void {
    if (this.failure) throw this.failure;
    const first = Math.floor(gpa / this.params.hugePageBytes);
    const last = Math.floor((gpa + Math.max(1, length) - 1) / this.params.hugePageBytes);
    for (let h = first; h <= last && h < this.state.length; h++) {
      if (this.state[h] === Huge.PRESENT) continue;
      this.fault(h);
      if (this.failure) throw this.failure;
    }
  }

  /** The vCPU stops until huge page `h` is placed. */
  private fault(h: number): void {
    if (this.state[h] === Huge.HINTED) {
      // Free memory in the guest that nobody wrote since its hint: a zero page, no round trip.
      this.destination.fill(h * this.params.hugePageBytes, this.hugeEnd(h) * PAGE_SIZE - h * this.params.hugePageBytes, 0);
      this.state[h] = Huge.PRESENT;
      this.local++;
      return;
    }
    const started = this.nowMs;
    this.nowMs += this.params.linkLatencyMs; // the request on the return path
    if (this.inFlight?.huge === h && this.rules.requestForInFlight(h) === 'drop') {
      // The precopy channel is sending this huge page: it finishes it, we wait.
      this.dropped++;
      while (this.inFlight?.huge === h && !this.failure) this.nowMs += this.sendInFlight(Number.POSITIVE_INFINITY);
    } else {
      // Stryker disable next-line ConditionalExpression: with the safe rules a request for the huge page in flight was dropped above
      if (!this.params.preempt && this.inFlight !== undefined && this.inFlight.huge !== h) {
        // One channel: the request waits behind the huge page being sent.
        this.nowMs += this.sendInFlight(Number.POSITIVE_INFINITY);
      }
      // With preemption the request has a channel of its own; without, it shares the one.
      const sender = this.senders[this.params.preempt ? 'postcopy' : 'precopy'];
      const from = this.inFlight?.huge === h ? this.inFlight.next : h * this.pagesPerHuge;
      const end = this.hugeEnd(h);
      for (let run = this.ramRun(from, end); run !== undefined; run = this.ramRun(run.end, end)) {
        this.nowMs += sender.send(run.first, run.end, this.policy, Number.POSITIVE_INFINITY).ms;
      }
      sender.flush();
      if (this.inFlight?.huge === h) this.inFlight = undefined;
    }
    this.nowMs += this.params.linkLatencyMs; // the last byte's way back
    if (this.state[h] !== Huge.PRESENT && !this.failure) this.failure = new MigrationError('postcopy-failed', `huge page ${h} never arrived`);
    this.latencies.push(this.nowMs - started);
  }

  /** Bytes on `channel`, as the destination receives them. */
  private deliver(channel: Channel, chunk: Uint8Array): void {
    if (this.failure) return;
    const delivered = this.params.tamper ? this.params.tamper(channel, chunk, this.chunks[channel]++) : chunk;
    if (delivered === undefined || delivered.length < chunk.length) {
      this.failure = new MigrationError('postcopy-failed', `the ${channel} channel broke after the switchover: the destination cannot fall back`);
      return;
    }
    try {
      this.readers[channel].push(delivered);
    } catch (error) {
      this.failure = new MigrationError('postcopy-failed', `the ${channel} channel delivered a bad record: ${String(error)}`, { cause: error });
    }
  }

  /** A verified record: collect a huge page's pages, place it whole when all are there. */
  private receive(channel: Channel, record: StreamRecord): void {
    if (record.type !== 'PAGE' && record.type !== 'ZERO' && record.type !== 'FILL' && record.type !== 'PATTERN') return;
    const pfn = record.gpa / PAGE_SIZE;
    const count = record.type === 'PAGE' ? 1 : record.type === 'PATTERN' ? countPatternPages(record.runs) : record.count;
    const h = Math.floor(pfn / this.pagesPerHuge);
    if (this.state[h] === Huge.PRESENT || this.delivered.has(h)) {
      this.violations.push({ huge: h, problem: 'twice' });
      return;
    }
    let entry = this.arriving.get(h);
    // Stryker disable next-line ArrayDeclaration: place ignores anything that is not a page record
    if (entry === undefined) this.arriving.set(h, (entry = { channel, records: [], pages: 0 }));
    if (entry.channel !== channel) this.violations.push({ huge: h, problem: 'split' });
    entry.records.push(record);
    entry.pages += count;
    if (entry.pages < this.ramPages(h)) return;
    for (const r of entry.records) this.place(r);
    this.arriving.delete(h);
    this.delivered.set(h, channel);
    this.state[h] = Huge.PRESENT;
    this.missing--;
  }

  private place(record: StreamRecord): void {
    const memory = this.destination;
    switch (record.type) {
      case 'PAGE':
        memory.write(record.gpa, record.data);
        return;
      case 'ZERO':
      case 'FILL':
        // Stryker disable next-line ConditionalExpression,StringLiteral: a ZERO record has no byte, and fill() takes undefined as 0
        memory.fill(record.gpa, record.count * PAGE_SIZE, record.type === 'ZERO' ? 0 : record.byte);
        return;
      case 'PATTERN':
        writePatternRuns(memory, record.seed, record.gpa / PAGE_SIZE, record.runs);
        return;
      // Stryker disable next-line ConditionalExpression: unreachable, receive passes page records only (the default keeps the switch exhaustive)
      default:
        return;
    }
  }

  /** One past the last RAM page of huge page `h`. */
  private hugeEnd(h: number): number {
    return Math.min((h + 1) * this.pagesPerHuge, this.source.end / PAGE_SIZE);
  }

  /**
   * The first run of RAM pages in [from, end), or undefined when there is none: a huge page
   * may straddle a hole between RAM regions, whose pages are neither sent nor awaited.
   */
  private ramRun(from: number, end: number): { first: number; end: number } | undefined {
    for (const r of this.source.regions) {
      const first = Math.max(from, r.gpa / PAGE_SIZE);
      const last = Math.min(end, (r.gpa + r.size) / PAGE_SIZE);
      if (first < last) return { first, end: last };
    }
    return undefined;
  }

  /** How many RAM pages huge page `h` has. */
  private ramPages(h: number): number {
    let pages = 0;
    const end = this.hugeEnd(h);
    for (let run = this.ramRun(h * this.pagesPerHuge, end); run !== undefined; run = this.ramRun(run.end, end)) pages += run.end - run.first;
    return pages;
  }

  private isRam(first: number, last: number): boolean {
    return this.source.contains(first * PAGE_SIZE, (last - first) * PAGE_SIZE);
  }
}

/** Destination RAM as the running guest sees it during postcopy: an access first waits for its pages. */
class FaultingMemory extends DelegatingMemory {
  constructor(
    memory: GuestMemory,
    private readonly onAccess: (gpa: number, length: number) => void,
  ) {
    super(memory);
  }

  protected override touch(gpa: number, length: number): void {
    this.onAccess(gpa, length);
  }
}
