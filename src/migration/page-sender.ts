/** The page scan: each dirty page read, classified (zero, described, overlay, whole) and written as stream records. */
import { describePage, patternRuns, zeroRunLength } from '../memory/described-pages.js';
import { PAGE_SIZE, type GuestMemory, type PageDescription, type PatternRun } from '../memory/guest-memory.js';
import { WIRE_PAGE_BYTES, WIRE_ZERO_PAGE_BYTES, type SimClock } from './cost-model.js';
import type { OverlayManager } from './overlay.js';
import type { StreamWriter } from './stream.js';

/** At most this many runs in one PATTERN record (8 bytes each): a record stays far below the stream's limit. */
const MAX_PATTERN_RUNS = 65536;

// Stryker disable next-line BlockStatement: a one-byte run also grows a page per turn through sendOneByte's coalescing; this only saves turns
function fillOf(summary: PageDescription | undefined): number | undefined {
  // Stryker disable next-line StringLiteral: as above, a run that stops at each page is coalesced into the same record
  return summary !== undefined && 'fill' in summary ? summary.fill : undefined;
}

/** How zero pages travel in a round. */
export interface ZeroPolicy {
  /** Zero pages go as header-only records. */
  readonly detectZero: boolean;
  /** Zero pages are not sent at all (zero-skip onto a fresh destination). */
  readonly skipZero: boolean;
}

/** Pages by how they went. */
export interface SendCounts {
  /** Sent whole. */
  normalPages: number;
  /** Sent as header-only zero records. */
  zeroPages: number;
  /** Zero pages not sent at all. */
  skippedZeroPages: number;
  /** Pages read that held data (not all zero), however they travelled: the guest's pages in use. */
  dataPages: number;
}

/**
 * Reads guest pages and writes their records, charging each page QEMU's cost: the read, and
 * the bytes QEMU's RAM stream would carry. Consecutive pages that hold one byte travel as one
 * record, across calls until another record must go first ({@link flush}); pattern pages of
 * the simulated guest travel by id. How much simulated time a call may cover is bounded, so
 * the guest still runs between calls.
 */
export class PageSender {
  /** Bytes on the wire as QEMU would send them. */
  wireBytes = 0;
  readonly counts: SendCounts = { normalPages: 0, zeroPages: 0, skippedZeroPages: 0, dataPages: 0 };
  /** A run of one-byte pages not written yet: zero records, or whole pages of `fill`. */
  private pending: { gpa: number; count: number; fill: number; zeroRecord: boolean } | undefined;
  /**
   * Pattern pages not written yet: consecutive ones, however the calls cut them, go as one
   * record, so that the stream does not depend on how a round was cut into batches.
   */
  private pendingPattern: { gpa: number; seed: number; runs: PatternRun[]; pages: number } | undefined;

  constructor(
    private readonly memory: GuestMemory,
    private readonly writer: StreamWriter,
    private readonly clock: SimClock,
    private readonly overlays: OverlayManager | undefined,
  ) {}

  /**
   * Read and send pages from `first` on, up to `end`, until about `budgetMs` of the thread's
   * time is spent or about `budgetBytes` went on the wire (the rate limiter's room: like QEMU's,
   * it is checked before each page, so the last page may go past it). Charges nothing: returns
   * the first page not sent and the time the pages cost. The caller clears their dirty bits
   * before the guest runs again, so a later write shows up.
   */
  send(first: number, end: number, policy: ZeroPolicy, budgetMs: number, budgetBytes = Number.POSITIVE_INFINITY): { next: number; ms: number } {
    const scanMs = this.clock.scanMs(PAGE_SIZE);
    const zeroBytes = policy.skipZero ? 0 : policy.detectZero ? WIRE_ZERO_PAGE_BYTES : WIRE_PAGE_BYTES;
    const zeroMs = scanMs + this.clock.sendMs(zeroBytes);
    const pageMs = scanMs + this.clock.sendMs(WIRE_PAGE_BYTES);
    const bytesAtStart = this.wireBytes;
    /** Pages that fit what is left of both budgets, at `ms` and `bytes` each; at least one. */
    const room = (ms: number, spent: number, bytes: number): number => {
      const byTime = Math.ceil((budgetMs - spent) / ms);
      const byBytes = bytes > 0 ? Math.ceil((budgetBytes - (this.wireBytes - bytesAtStart)) / bytes) : Number.POSITIVE_INFINITY;
      return Math.max(1, Math.min(byTime, byBytes));
    };
    // An overlaid page shows hypervisor contents: its overlay travels as parameters instead.
    // Stryker disable next-line LogicalOperator,ArrayDeclaration,MethodExpression: pages outside [first, end) are never visited and the limit is capped at end; the filter only shortens the list
    const overlaid = this.overlays?.size ? this.overlays.pfns().filter((p) => p >= first && p < end) : [];
    let ms = 0;
    let pfn = first;
    while (pfn < end && ms < budgetMs && this.wireBytes - bytesAtStart < budgetBytes) {
      if (overlaid.includes(pfn)) {
        pfn++;
        continue;
      }
      const limit = (overlaid.length === 0 ? end : Math.min(end, ...overlaid.filter((p) => p > pfn))) - pfn;
      const zeros = zeroRunLength(this.memory, pfn, Math.min(limit, room(zeroMs, ms, zeroBytes)));
      if (zeros > 0) {
        ms += zeros * zeroMs;
        this.sendOneByte(pfn, zeros, 0, policy);
        pfn += zeros;
        continue;
      }
      const summary = describePage(this.memory, pfn);
      const gpa = pfn * PAGE_SIZE;
      if (summary === undefined) {
        this.flush();
        this.writer.page(gpa, this.memory.read(gpa, PAGE_SIZE));
        this.counts.normalPages++;
        this.counts.dataPages++;
        ms += scanMs + this.wire(WIRE_PAGE_BYTES);
        pfn++;
        continue;
      }
      const pages = Math.min(limit, room(pageMs, ms, WIRE_PAGE_BYTES));
      if ('seed' in summary) {
        const runs: PatternRun[] = [];
        const count = patternRuns(this.memory, summary.seed, pfn, pages, runs);
        this.addPattern(gpa, summary.seed, runs, count);
        this.counts.normalPages += count;
        this.counts.dataPages += count;
        ms += count * scanMs + this.wire(count * WIRE_PAGE_BYTES);
        pfn += count;
        continue;
      }
      // A run of pages that all hold the same non-zero byte (poison).
      let next = pfn + 1;
      // Stryker disable next-line ArithmeticOperator: a run that stops at each page is coalesced into the same record (see fillOf)
      while (next < pfn + pages && fillOf(describePage(this.memory, next)) === summary.fill) next++;
      ms += (next - pfn) * pageMs;
      this.sendOneByte(pfn, next - pfn, summary.fill, policy);
      pfn = next;
    }
    return { next: pfn, ms };
  }

  /** Write the pending runs, if any: before another record, and when a round ends. */
  flush(): void {
    const pattern = this.pendingPattern;
    if (pattern !== undefined) {
      this.pendingPattern = undefined;
      this.writer.pattern(pattern.gpa, pattern.seed, pattern.runs);
    }
    const run = this.pending;
    if (run === undefined) return;
    this.pending = undefined;
    if (run.zeroRecord) this.writer.zero(run.gpa, run.count);
    else this.writer.fill(run.gpa, run.count, run.fill);
  }

  /** Pattern pages from `gpa`: joined to the pending ones when they follow them, else after a flush. */
  private addPattern(gpa: number, seed: number, runs: readonly PatternRun[], pages: number): void {
    const p = this.pendingPattern;
    if (p !== undefined && p.seed === seed && p.gpa + p.pages * PAGE_SIZE === gpa && p.runs.length < MAX_PATTERN_RUNS) {
      const last = p.runs[p.runs.length - 1]!;
      const [head, ...rest] = runs;
      if (head !== undefined && head.version === last.version) p.runs[p.runs.length - 1] = { count: last.count + head.count, version: last.version };
      else if (head !== undefined) p.runs.push(head);
      p.runs.push(...rest);
      p.pages += pages;
      return;
    }
    this.flush();
    this.pendingPattern = { gpa, seed, runs: [...runs], pages };
  }

  /** `count` pages from `pfn` that all hold `fill`: zero records, skipped, or whole pages. */
  private sendOneByte(pfn: number, count: number, fill: number, policy: ZeroPolicy): void {
    if (fill === 0 && policy.skipZero) {
      this.counts.skippedZeroPages += count;
      return;
    }
    if (fill !== 0) this.counts.dataPages += count;
    const zeroRecord = fill === 0 && policy.detectZero;
    if (zeroRecord) {
      this.counts.zeroPages += count;
      this.wireBytes += count * WIRE_ZERO_PAGE_BYTES;
    } else {
      this.counts.normalPages += count;
      this.wireBytes += count * WIRE_PAGE_BYTES;
    }
    const gpa = pfn * PAGE_SIZE;
    const run = this.pending;
    if (this.pendingPattern === undefined && run && run.zeroRecord === zeroRecord && run.fill === fill && run.gpa + run.count * PAGE_SIZE === gpa) {
      run.count += count;
      return;
    }
    this.flush();
    this.pending = { gpa, count, fill, zeroRecord };
  }

  /** Count `bytes` as sent; returns the time that takes. */
  private wire(bytes: number): number {
    this.wireBytes += bytes;
    return this.clock.sendMs(bytes);
  }
}
