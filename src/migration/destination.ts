import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.js';
import { writePatternPage } from '../memory/page-content.js';
import { recognisePattern, type PatternId } from '../memory/page-pattern.js';
import { StreamError, StreamReader, type StreamRecord } from './stream.js';

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

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

/** A staged page: zero, a recognised pattern page (kept as its id, not its bytes), or bytes. */
type StagedPage = null | PatternId | Uint8Array;

/** One incoming stream: push bytes, then finish() to apply it, or drop it to forget it. */
export class Incoming {
  private readonly reader: StreamReader;
  private readonly staged = new Map<number, StagedPage>();
  private readonly devices = new Map<string, unknown>();
  private failure: StreamError | undefined;
  private readonly scratch = new Uint32Array(PAGE_SIZE / 4);
  private pages = 0;
  private zeroPages = 0;

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
      this.failure = error instanceof StreamError ? error : new StreamError('bad-record', -1, String(error));
    }
  }

  /** The stream is over: apply it whole, or throw the StreamError that rejects it (nothing applied). */
  finish(): Received {
    if (!this.failure) {
      try {
        this.reader.finish();
      } catch (error) {
        this.failure = error as StreamError;
      }
    }
    if (this.failure) throw this.failure;
    const memory = this.destination.memory;
    let already = 0;
    for (const [pfn, data] of this.staged) {
      if (data === null) {
        // Write only what is not zero already: do not touch (allocate) fresh memory.
        if (memory.isZeroPage(pfn)) already++;
        else memory.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0);
      } else if (data instanceof Uint8Array) {
        memory.write(pfn * PAGE_SIZE, data);
      } else {
        writePatternPage(memory, data.seed, pfn, data.version);
      }
    }
    this.markUsed();
    return { pages: this.pages, zeroPages: this.zeroPages, zeroPagesAlreadyZero: already, devices: this.devices };
  }

  private stage(record: StreamRecord): void {
    const memory = this.destination.memory;
    switch (record.type) {
      case 'HEADER':
        if (record.ramBytes !== memory.end) throw new StreamError('bad-header', 0, `stream is for ${record.ramBytes} bytes of RAM, the destination has ${memory.end}`);
        return;
      case 'PAGE':
      case 'ZERO': {
        if (record.gpa % PAGE_SIZE !== 0 || !memory.contains(record.gpa, PAGE_SIZE)) throw new StreamError('bad-record', -1, `page at 0x${record.gpa.toString(16)} is not a RAM page here`);
        const pfn = record.gpa / PAGE_SIZE;
        if (record.type === 'ZERO') {
          this.zeroPages++;
          this.staged.set(pfn, null);
          return;
        }
        this.pages++;
        // Stage compactly: a page of zeros as zero, a simulated guest page by its pattern id.
        const id = recognisePattern(record.data, this.scratch);
        if (id !== undefined && id.pfn === pfn) this.staged.set(pfn, id);
        else this.staged.set(pfn, Buffer.compare(record.data, ZERO_PAGE) === 0 ? null : record.data);
        return;
      }
      case 'DEVICE':
        this.devices.set(record.name, record.state);
        return;
      case 'ROUND':
      case 'END':
        return;
    }
  }
}
