/** The destination of a postcopy migration: which huge pages have arrived, the two channels' records, whole-huge-page placement, and the guest's faulting view of its RAM. */
import { DelegatingMemory } from '../memory/delegating-memory.js';
import { countPatternPages, writePatternRuns } from '../memory/described-pages.js';
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import type { PageBitmap } from '../memory/page-bitmap.js';
import { MigrationError } from './errors.js';
import type { HugePages } from './postcopy-huge-pages.js';
import type { Channel } from './postcopy-source.js';
import { StreamReader, type StreamRecord } from './stream.js';

/** Where a huge page stands on the destination. */
const Huge = { PRESENT: 0, MISSING: 1, HINTED: 2 } as const;

/** Something wrong the destination saw: a huge page split across channels, or a page twice. */
export interface PlacementViolation {
  readonly huge: number;
  readonly problem: 'split' | 'twice';
}

/** What the precopy phase handed off: pages still to come, and hinted pages nothing wrote since (or none, when faults on them must be requested). */
export interface PostcopyHandOff {
  readonly remaining: PageBitmap;
  readonly hintedClean: PageBitmap | undefined;
}

/** Break a channel (fault injection): return the bytes to deliver, or undefined to drop them. */
export type ChannelTamper = (channel: Channel, chunk: Uint8Array, index: number) => Uint8Array | undefined;

/**
 * The receiving side. Records of both channels are verified as they arrive; the pages of a
 * huge page are collected and placed together once all are there (a huge page is mapped
 * atomically), and a huge page that comes twice or from both channels is a violation. The
 * guest runs on {@link guestMemory}, whose every access first waits for its huge pages.
 */
export class PostcopyDestination {
  readonly guestMemory: GuestMemory;
  readonly violations: PlacementViolation[] = [];
  private readonly state: Uint8Array;
  private readonly readers: Record<Channel, StreamReader>;
  private readonly chunks: Record<Channel, number> = { precopy: 0, postcopy: 0 };
  /** Per huge page being received: the channel and the 4 KiB records that arrived so far. */
  private readonly arriving = new Map<number, { channel: Channel; records: StreamRecord[]; pages: number }>();
  private readonly delivered = new Map<number, Channel>();
  private missingCount = 0;
  private failure: MigrationError | undefined;

  /** `onAccess` runs before each guest access, with the range it touches. */
  constructor(
    private readonly memory: GuestMemory,
    private readonly huge: HugePages,
    handOff: PostcopyHandOff,
    private readonly tamper: ChannelTamper | undefined,
    onAccess: (gpa: number, length: number) => void,
  ) {
    this.state = new Uint8Array(huge.count);
    // A huge page is missing if any of its pages still has to come; hinted if all of its RAM
    // pages are hinted and clean (its contents are free memory: a zero page will do).
    let nextRemaining = handOff.remaining.nextSet(0);
    // Stryker disable next-line EqualityOperator: one turn past the end finds no remaining page there, and a typed array drops the write past its end
    for (let h = 0; h < huge.count; h++) {
      const first = h * huge.pagesPerHuge;
      const last = huge.end(h);
      if (nextRemaining >= 0 && nextRemaining < last) {
        this.state[h] = Huge.MISSING;
        this.missingCount++;
        nextRemaining = handOff.remaining.nextSet(last);
      } else if (handOff.hintedClean && handOff.hintedClean.nextClear(first, last) === last && huge.isRam(first, last)) {
        this.state[h] = Huge.HINTED;
      }
    }
    const reader = (channel: Channel): StreamReader => new StreamReader((record) => this.receive(channel, record));
    // Stryker disable next-line StringLiteral: receive only compares a record's channel with the first one of its huge page; any two distinct names serve
    this.readers = { precopy: reader('precopy'), postcopy: reader('postcopy') };
    this.guestMemory = new FaultingMemory(memory, onAccess);
  }

  /** Huge pages that have not arrived (a hinted one does not count: it never comes). */
  get missing(): number {
    return this.missingCount;
  }

  /** Why the destination cannot go on (a channel broke, or a page never came), if it cannot. */
  get failed(): MigrationError | undefined {
    return this.failure;
  }

  /** The postcopy phase failed: the destination cannot fall back to the source any more. */
  fail(error: MigrationError): void {
    this.failure ??= error;
  }

  /** Whether huge page `h` is in place (arrived, or resolved locally). */
  isPresent(h: number): boolean {
    return this.state[h] === Huge.PRESENT;
  }

  /** Whether huge page `h` is free memory the guest hinted and nothing wrote since: a zero page will do. */
  isHinted(h: number): boolean {
    return this.state[h] === Huge.HINTED;
  }

  /** The first huge page from `h` on that has yet to arrive, or {@link HugePages.count} when none has. */
  nextMissing(h: number): number {
    while (h < this.state.length && this.state[h] !== Huge.MISSING) h++;
    return h;
  }

  /** A fault on a hinted huge page: a zero page here, no round trip. */
  placeZero(h: number): void {
    const gpa = h * this.huge.hugePageBytes;
    this.memory.fill(gpa, this.huge.end(h) * PAGE_SIZE - gpa, 0);
    this.state[h] = Huge.PRESENT;
  }

  /** Bytes on `channel`, as the destination receives them. */
  deliver(channel: Channel, chunk: Uint8Array): void {
    if (this.failure) return;
    const delivered = this.tamper ? this.tamper(channel, chunk, this.chunks[channel]++) : chunk;
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
    const h = this.huge.of(pfn);
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
    if (entry.pages < this.huge.ramPages(h)) return;
    for (const r of entry.records) this.place(r);
    this.arriving.delete(h);
    this.delivered.set(h, channel);
    this.state[h] = Huge.PRESENT;
    this.missingCount--;
  }

  private place(record: StreamRecord): void {
    const memory = this.memory;
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
