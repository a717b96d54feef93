/** The receiving side of a precopy migration: verify the stream as it comes, apply it whole or not at all. */
import { countPatternPages, describeBytes, writePatternRuns, zeroRunLength } from '../memory/described-pages.js';
import { PAGE_SIZE, type GuestMemory, type PatternRun } from '../memory/guest-memory.js';
import { StreamError, StreamReader, type StreamRecord } from './stream.js';

/** What a destination knows after it accepted a whole stream. */
export interface Received {
  /** Page records and zero records received (a page sent in several rounds counts each time). */
  readonly pages: number;
  readonly zeroPages: number;
  /** Zero records for pages that were already zero (not written, as QEMU's ram_handle_zero). */
  readonly zeroPagesAlreadyZero: number;
  readonly devices: ReadonlyMap<string, unknown>;
}

/**
 * The receiving side. Records are verified as they arrive and staged; only a stream that ends
 * with a verified END record is applied to the destination's memory, so a truncated or corrupt
 * stream leaves the destination exactly as it was. A destination whose memory has never been
 * written is fresh (reads as zero); once anything is applied it is not, and a source must then
 * send zero pages too (H12).
 */
export class Destination {
  #fresh: boolean;

  constructor(
    readonly memory: GuestMemory,
    options: { readonly fresh?: boolean } = {},
  ) {
    this.#fresh = options.fresh ?? true;
  }

  /** Whether every page reads as zero because nothing was ever written here. */
  get fresh(): boolean {
    return this.#fresh;
  }

  /** Start receiving a stream. */
  incoming(): Incoming {
    return new Incoming(this, () => (this.#fresh = false));
  }
}

/**
 * A staged write, applied in arrival order at a verified END (so a later round's record for a
 * page wins): a run of pages holding one byte, a pattern page kept as its id, or real bytes.
 */
type Staged =
  | { readonly pfn: number; readonly count: number; readonly fill: number; readonly zeroRecord: boolean }
  | { readonly pfn: number; readonly seed: number; readonly runs: readonly PatternRun[] }
  | { readonly pfn: number; readonly data: Uint8Array };

/** One incoming stream: push bytes, then finish() to apply it, or drop it to forget it. */
export class Incoming {
  private readonly reader: StreamReader;
  private readonly staged: Staged[] = [];
  private readonly devices = new Map<string, unknown>();
  private failure: StreamError | undefined;
  private pages = 0;
  private zeroPages = 0;
  /** Sequence number of the record being staged, so that an error names it. */
  private seq = 0;

  constructor(
    private readonly destination: Destination,
    private readonly markUsed: () => void,
  ) {
    this.reader = new StreamReader((record) => this.stage(record));
  }

  /** Bytes from the channel. A bad record fails the stream; later bytes are ignored. */
  push(chunk: Uint8Array): void {
    if (this.failure) return;
    try {
      this.reader.push(chunk);
    } catch (error) {
      // Stryker disable next-line StringLiteral: defensive; the reader and the staging throw StreamErrors only
      this.failure = error instanceof StreamError ? error : new StreamError('bad-record', this.seq, String(error));
    }
  }

  /** The stream is over: apply it whole, or throw the StreamError that rejects it (nothing applied). */
  finish(): Received {
    if (!this.failure) {
      try {
        this.reader.finish();
      } catch (error) {
        // Stryker disable next-line ConditionalExpression,StringLiteral: defensive; the reader throws StreamErrors only
        this.failure = error instanceof StreamError ? error : new StreamError('bad-record', this.seq, String(error));
      }
    }
    if (this.failure) throw this.failure;
    const memory = this.destination.memory;
    let already = 0;
    for (const op of this.staged) {
      if ('fill' in op && op.fill !== 0) {
        memory.fill(op.pfn * PAGE_SIZE, op.count * PAGE_SIZE, op.fill);
      } else if ('fill' in op) {
        // Write only what is not zero already: do not touch (allocate) fresh memory with zeros.
        const end = op.pfn + op.count;
        for (let pfn = op.pfn; pfn < end; ) {
          const zeros = zeroRunLength(memory, pfn, end - pfn);
          if (op.zeroRecord) already += zeros;
          pfn += zeros;
          if (pfn < end) memory.fill(pfn++ * PAGE_SIZE, PAGE_SIZE, 0);
        }
      } else if ('data' in op) {
        memory.write(op.pfn * PAGE_SIZE, op.data);
      } else {
        writePatternRuns(memory, op.seed, op.pfn, op.runs);
      }
    }
    this.markUsed();
    return { pages: this.pages, zeroPages: this.zeroPages, zeroPagesAlreadyZero: already, devices: this.devices };
  }

  /** The first pfn of `count` pages at `gpa`, which must all be RAM here. */
  private pagesAt(gpa: number, count: number): number {
    if (gpa % PAGE_SIZE !== 0 || !this.destination.memory.contains(gpa, count * PAGE_SIZE)) {
      throw new StreamError('bad-record', this.seq, `${count} page(s) at 0x${gpa.toString(16)} are not RAM here`);
    }
    return gpa / PAGE_SIZE;
  }

  private stage(record: StreamRecord): void {
    this.stageRecord(record);
    this.seq++;
  }

  /** ROUND and END records carry nothing to stage (the reader has checked END's count). */
  private stageRecord(record: StreamRecord): void {
    const memory = this.destination.memory;
    switch (record.type) {
      case 'HEADER':
        if (record.ramBytes !== memory.end) throw new StreamError('bad-header', 0, `stream is for ${record.ramBytes} bytes of RAM, the destination has ${memory.end}`);
        return;
      case 'PATTERN': {
        const count = countPatternPages(record.runs);
        const pfn = this.pagesAt(record.gpa, count);
        this.pages += count;
        this.staged.push({ pfn, seed: record.seed, runs: record.runs });
        return;
      }
      case 'PAGE': {
        const pfn = this.pagesAt(record.gpa, 1);
        this.pages++;
        // Stage compactly: a page of zeros as zero, a simulated guest page by its pattern id.
        const described = describeBytes(record.data, pfn);
        // Stryker disable next-line ConditionalExpression: staging the bytes instead writes the same content, only less compactly
        if (described === undefined) this.staged.push({ pfn, data: record.data });
        // Stryker disable next-line ConditionalExpression,StringLiteral: as above
        else if ('fill' in described) this.staged.push({ pfn, count: 1, fill: described.fill, zeroRecord: false });
        else this.staged.push({ pfn, seed: described.seed, runs: [{ count: 1, version: described.version }] });
        return;
      }
      case 'ZERO':
      case 'FILL': {
        const pfn = this.pagesAt(record.gpa, record.count);
        const zeroRecord = record.type === 'ZERO';
        if (zeroRecord) this.zeroPages += record.count;
        else this.pages += record.count;
        this.staged.push({ pfn, count: record.count, fill: zeroRecord ? 0 : record.byte, zeroRecord });
        return;
      }
      case 'DEVICE':
        this.devices.set(record.name, record.state);
        return;
    }
  }
}
