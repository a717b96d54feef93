import { describe, expect, it } from 'vitest';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { MemoryError } from '../../src/memory/errors.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { PageBitmap } from '../../src/memory/page-bitmap.js';
import { writePatternPage } from '../../src/memory/described-pages.js';
import { SparseMemory } from '../../src/memory/sparse-memory.js';
import { WIRE_PAGE_BYTES, WIRE_ZERO_PAGE_BYTES, type CostModel } from '../../src/migration/cost-model.js';
import { MigrationError } from '../../src/migration/errors.js';
import { PostcopySession, type PostcopyParams } from '../../src/migration/postcopy.js';
import type { Channel } from '../../src/migration/postcopy-source.js';
import { StreamError, StreamReader, StreamWriter, type StreamRecord } from '../../src/migration/stream.js';

// Costs picked so every figure is a whole number of ms: reading a page takes 1 ms and 9 bytes
// take 1 ms on the wire, so a zero page costs 2 ms to send and a whole page 1 + 456 = 457 ms.
const COST: Partial<CostModel> = { scanRate: PAGE_SIZE * 1000, bandwidth: 9000 };
const ZERO_MS = 1 + (WIRE_ZERO_PAGE_BYTES * 1000) / 9000;
const PAGE_MS = 1 + (WIRE_PAGE_BYTES * 1000) / 9000;
/** One-way link latency: a fault costs two of them (the request, then the page's way back). */
const LINK_MS = 10;
const SEED = 0x5eed;
/** Host huge pages of 4 guest pages; 16 guest pages are 4 huge pages. */
const PER_HUGE = 4;
const HUGE = PER_HUGE * PAGE_SIZE;
const PAGES = 16;

type Content = 'data' | 'zero' | 'fill' | 'pattern';

interface Setup {
  /** What each guest page holds on the source (default: data everywhere). */
  readonly content?: (pfn: number) => Content;
  readonly pages?: number;
  /** Pages still to come at the switchover (default: all). */
  readonly remaining?: readonly number[];
  readonly hinted?: readonly number[];
  readonly params?: Partial<PostcopyParams>;
}

function dataPage(pfn: number): Uint8Array {
  return new Uint8Array(PAGE_SIZE).map((_, i) => (i * 13 + pfn * 5 + 3) & 0xff);
}

function bitmap(pages: number, pfns: readonly number[]): PageBitmap {
  const b = new PageBitmap(pages);
  for (const pfn of pfns) b.add(pfn);
  return b;
}

function setup(s: Setup = {}) {
  const pages = s.pages ?? PAGES;
  const source = new CompactMemory({ regions: pages * PAGE_SIZE, patternSeed: SEED });
  for (let pfn = 0; pfn < pages; pfn++) {
    const kind = s.content?.(pfn) ?? 'data';
    if (kind === 'data') source.write(pfn * PAGE_SIZE, dataPage(pfn));
    else if (kind === 'fill') source.fill(pfn * PAGE_SIZE, PAGE_SIZE, 0xaa);
    else if (kind === 'pattern') writePatternPage(source, SEED, pfn, pfn + 1);
  }
  // A used destination: leftovers everywhere, so a page that is not placed shows.
  const destination = new SparseMemory(pages * PAGE_SIZE);
  destination.fill(0, pages * PAGE_SIZE, 0xee);
  const remaining = bitmap(pages, s.remaining ?? Array.from({ length: pages }, (_, i) => i));
  const hintedClean = s.hinted ? bitmap(pages, s.hinted) : undefined;
  const session = new PostcopySession(source, destination, { remaining, hintedClean }, { hugePageBytes: HUGE, preempt: true, linkLatencyMs: LINK_MS, cost: COST, ...s.params });
  /** Read huge page `h` as the guest on the destination does (it faults if it must). */
  const touch = (h: number): Uint8Array => session.guestMemory.read(h * HUGE, HUGE);
  return { source, destination, session, touch };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** A 9-byte record header that announces a 1 MiB payload: the reader waits for it forever. */
function stall(): Uint8Array {
  const h = new Uint8Array(9);
  const v = new DataView(h.buffer);
  v.setUint8(0, 1);
  v.setUint32(5, 1 << 20, true);
  return h;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Re-encodes one channel's stream, adding records of its own (a faulty or hostile link). */
class Relay {
  /** Records to add after the next record that passes. */
  readonly extra: StreamRecord[] = [];
  private readonly out: Uint8Array[] = [];
  private readonly writer = new StreamWriter((c) => this.out.push(c));
  private readonly reader = new StreamReader((r) => {
    this.emit(r);
    for (const e of this.extra.splice(0)) this.emit(e);
  });

  constructor(private readonly onRecord: (r: StreamRecord, relay: Relay) => void = () => {}) {}

  pass(chunk: Uint8Array): Uint8Array {
    this.reader.push(chunk);
    return this.out.splice(0).reduce(join, new Uint8Array(0));
  }

  private emit(r: StreamRecord): void {
    if (r.type === 'HEADER') this.writer.header(r.ramBytes);
    else if (r.type === 'PAGE') this.writer.page(r.gpa, r.data);
    else if (r.type === 'ZERO') this.writer.zero(r.gpa, r.count);
    else if (r.type === 'FILL') this.writer.fill(r.gpa, r.count, r.byte);
    else if (r.type === 'PATTERN') this.writer.pattern(r.gpa, r.seed, r.runs);
    this.onRecord(r, this);
  }
}

describe('PostcopySession rules', () => {
  it('takes only a power-of-two huge page size from 4096 bytes, with a clear error', () => {
    for (const hugePageBytes of [0, 2048, 12288, 8192.5, -4096]) {
      expect(() => setup({ params: { hugePageBytes } }), String(hugePageBytes)).toThrow(RangeError);
      expect(() => setup({ params: { hugePageBytes } })).toThrow(`huge page size ${hugePageBytes}: expected a power of two from 4096`);
    }
    for (const hugePageBytes of [4096, 8192, 2 << 20]) expect(setup({ params: { hugePageBytes } }).session.remaining).toBeGreaterThan(0);
  });

  it('a huge page is missing if any of its pages is still to come; the others are there already', () => {
    // Pages 0 and 8 start huge pages 0 and 2; huge pages 1 and 3 arrived during precopy.
    const { session, source, touch } = setup({ remaining: [0, 8] });
    expect(session.remaining).toBe(2);
    expect(session.failed).toBeUndefined();
    expect(session.stats).toEqual({
      faults: 0,
      faultLatencyMs: { p50: 0, p99: 0, max: 0 },
      resolvedLocally: 0,
      precopyChannelBytes: 0,
      postcopyChannelBytes: 0,
      postcopyMs: 0,
      droppedRequests: 0,
    });
    // Huge page 1 is placed: the destination's bytes are read as they are, no fault.
    expect(touch(1).every((b) => b === 0xee)).toBe(true);
    expect(session.stats.faults).toBe(0);
    expect(same(touch(2), source.read(2 * HUGE, HUGE))).toBe(true);
    expect(session.stats.faults).toBe(1);
    expect(session.remaining).toBe(1);
  });

  it("a fault's latency is two one-way link latencies plus the huge page's send time", () => {
    const { session, source, touch } = setup();
    session.nowMs = 100;
    const bytes = session.guestMemory.read(HUGE + 5, 8);
    expect(same(bytes, source.read(HUGE + 5, 8))).toBe(true);
    const latency = 2 * LINK_MS + PER_HUGE * PAGE_MS;
    expect(session.stats).toMatchObject({ faults: 1, faultLatencyMs: { p50: latency, p99: latency, max: latency }, postcopyMs: 100 + latency });
    expect(session.stats.postcopyChannelBytes).toBe(PER_HUGE * WIRE_PAGE_BYTES);
    expect(session.stats.precopyChannelBytes).toBe(0);
    expect(session.remaining).toBe(3);
    // Placed whole: the rest of the huge page reads without another fault.
    expect(same(touch(1), source.read(HUGE, HUGE))).toBe(true);
    expect(session.stats.faults).toBe(1);
  });

  it('an access faults on every huge page it touches and on no other', () => {
    const { session, source } = setup();
    // The last byte of huge page 0 and the first of huge page 1.
    expect(same(session.guestMemory.read(HUGE - 4, 8), source.read(HUGE - 4, 8))).toBe(true);
    expect(session.stats.faults).toBe(2);
    // Exactly huge page 2, to its last byte: huge page 3 does not come.
    session.guestMemory.read(2 * HUGE, HUGE);
    expect(session.stats.faults).toBe(3);
    expect(session.remaining).toBe(1);
  });

  it('an access past the end of RAM is a memory error, not a postcopy failure', () => {
    const { session } = setup({ remaining: [] });
    expect(() => session.guestMemory.read(PAGES * PAGE_SIZE - 2, 4)).toThrow(MemoryError);
    expect(session.failed).toBeUndefined();
    expect(session.stats.faults).toBe(0);
  });

  it('fault latencies are summarised as p50, p99 and max of all faults', () => {
    // Huge page 0 holds data, 1 zeros, 2 half data half zeros.
    const { session, touch } = setup({ content: (pfn) => (pfn >= 4 && pfn < 10 ? 'zero' : 'data') });
    touch(0);
    touch(1);
    touch(2);
    const data = 2 * LINK_MS + 4 * PAGE_MS;
    const zero = 2 * LINK_MS + 4 * ZERO_MS;
    const half = 2 * LINK_MS + 2 * ZERO_MS + 2 * PAGE_MS;
    expect(session.stats.faults).toBe(3);
    expect(session.stats.faultLatencyMs).toEqual({ p50: half, p99: data, max: data });
    // The guest waited for each in turn.
    expect(session.stats.postcopyMs).toBe(data + zero + half);
    // Zero pages travel as 9-byte headers.
    expect(session.stats.postcopyChannelBytes).toBe(6 * WIRE_PAGE_BYTES + 6 * WIRE_ZERO_PAGE_BYTES);
  });

  it('every kind of page is placed as the source holds it, over whatever the destination held', () => {
    const kinds: Content[] = ['data', 'zero', 'fill', 'pattern'];
    const { session, source, destination } = setup({ content: (pfn) => kinds[pfn % 4]! });
    session.background(Number.POSITIVE_INFINITY);
    expect(session.remaining).toBe(0);
    expect(session.violations).toEqual([]);
    expect(same(destination.read(0, PAGES * PAGE_SIZE), source.read(0, PAGES * PAGE_SIZE))).toBe(true);
    // Per huge page: data, fill and pattern pages whole, the zero page as a header.
    expect(session.stats.precopyChannelBytes).toBe(4 * (3 * WIRE_PAGE_BYTES + WIRE_ZERO_PAGE_BYTES));
  });

  describe('the background stream on the precopy channel', () => {
    it('sends for the time the guest ran, in address order, and skips what arrived', () => {
      const { session, touch } = setup();
      session.background(0);
      expect(session.stats.precopyChannelBytes).toBe(0);
      touch(1);
      session.background(PAGE_MS);
      expect(session.stats.precopyChannelBytes).toBe(WIRE_PAGE_BYTES);
      expect(session.remaining).toBe(3);
      // Finishing huge page 0 resumes at its second page; huge page 1 is not sent again.
      session.background(5 * PAGE_MS);
      expect(session.stats.precopyChannelBytes).toBe(6 * WIRE_PAGE_BYTES);
      expect(session.remaining).toBe(2); // huge page 2 is half sent
      session.background(Number.POSITIVE_INFINITY);
      expect(session.remaining).toBe(0);
      expect(session.stats.precopyChannelBytes).toBe(12 * WIRE_PAGE_BYTES);
      session.background(Number.POSITIVE_INFINITY);
      expect(session.stats.precopyChannelBytes).toBe(12 * WIRE_PAGE_BYTES);
      expect(session.violations).toEqual([]);
      // The background's time runs alongside the guest: the caller counts it, not the session.
      expect(session.nowMs).toBe(2 * LINK_MS + 4 * PAGE_MS);
    });

    it('a partial last huge page is sent and placed when its RAM pages are there', () => {
      // 10 pages: huge page 2 has only pages 8 and 9.
      const { session, source, destination } = setup({ pages: 10 });
      expect(session.remaining).toBe(3);
      session.background(Number.POSITIVE_INFINITY);
      expect(session.remaining).toBe(0);
      expect(same(destination.read(0, 10 * PAGE_SIZE), source.read(0, 10 * PAGE_SIZE))).toBe(true);
    });
  });

  describe('a fault while the precopy channel is in the middle of a huge page', () => {
    it('with preemption, the request goes first on its own channel; the huge page in flight resumes later', () => {
      const { session, source, destination, touch } = setup();
      session.background(PAGE_MS); // huge page 0: one page of four sent
      expect(same(touch(2), source.read(2 * HUGE, HUGE))).toBe(true);
      expect(session.stats.faultLatencyMs.max).toBe(2 * LINK_MS + 4 * PAGE_MS);
      expect(session.stats.postcopyChannelBytes).toBe(4 * WIRE_PAGE_BYTES);
      expect(session.stats.precopyChannelBytes).toBe(WIRE_PAGE_BYTES);
      expect(session.remaining).toBe(3);
      session.background(Number.POSITIVE_INFINITY);
      expect(session.stats.precopyChannelBytes).toBe(12 * WIRE_PAGE_BYTES);
      expect(session.violations).toEqual([]);
      expect(same(destination.read(0, PAGES * PAGE_SIZE), source.read(0, PAGES * PAGE_SIZE))).toBe(true);
    });

    it('without preemption, the request waits behind the rest of the huge page in flight', () => {
      const { session, source, touch } = setup({ params: { preempt: false } });
      session.background(PAGE_MS);
      expect(same(touch(2), source.read(2 * HUGE, HUGE))).toBe(true);
      expect(session.stats.faultLatencyMs.max).toBe(2 * LINK_MS + 3 * PAGE_MS + 4 * PAGE_MS);
      // One channel carries both.
      expect(session.stats.postcopyChannelBytes).toBe(0);
      expect(session.stats.precopyChannelBytes).toBe(8 * WIRE_PAGE_BYTES);
      expect(session.remaining).toBe(2);
      expect(session.violations).toEqual([]);
    });

    it('a request for that very huge page is dropped: the precopy channel finishes it', () => {
      for (const preempt of [true, false]) {
        const { session, source, touch } = setup({ params: { preempt } });
        session.background(PAGE_MS);
        expect(same(touch(0), source.read(0, HUGE))).toBe(true);
        expect(session.stats.droppedRequests).toBe(1);
        expect(session.stats.faultLatencyMs.max).toBe(2 * LINK_MS + 3 * PAGE_MS);
        expect(session.stats.postcopyChannelBytes).toBe(0);
        expect(session.stats.precopyChannelBytes).toBe(4 * WIRE_PAGE_BYTES);
        expect(session.violations).toEqual([]);
        expect(session.remaining).toBe(3);
      }
    });

    it('a rule that sends the rest on the postcopy channel is seen as a split, never as a page twice', () => {
      const { session, source, destination, touch } = setup({ params: { rules: { requestForInFlight: () => 'send-rest' } } });
      session.background(PAGE_MS);
      expect(same(touch(0), source.read(0, HUGE))).toBe(true);
      expect(session.stats.droppedRequests).toBe(0);
      // Only the three pages the precopy channel had not sent.
      expect(session.stats.postcopyChannelBytes).toBe(3 * WIRE_PAGE_BYTES);
      expect(session.stats.faultLatencyMs.max).toBe(2 * LINK_MS + 3 * PAGE_MS);
      session.background(Number.POSITIVE_INFINITY);
      expect(session.violations).toEqual([1, 2, 3].map(() => ({ huge: 0, problem: 'split' })));
      expect(same(destination.read(0, PAGES * PAGE_SIZE), source.read(0, PAGES * PAGE_SIZE))).toBe(true);
    });
  });

  describe('hinted huge pages', () => {
    // Huge page 2 (pages 8-11) is free memory the guest hinted and nobody wrote since.
    const hinted = [8, 9, 10, 11];

    it("'local-zero': a fault on a hinted-clean huge page is a zero page at the destination, no round trip", () => {
      const { session, touch } = setup({ remaining: [0], hinted });
      expect(session.remaining).toBe(1);
      expect(touch(2).every((b) => b === 0)).toBe(true);
      expect(session.stats).toMatchObject({ faults: 0, resolvedLocally: 1, postcopyChannelBytes: 0, precopyChannelBytes: 0, postcopyMs: 0 });
      touch(2);
      expect(session.stats.resolvedLocally).toBe(1);
      expect(session.remaining).toBe(1);
    });

    it('a huge page only partly hinted, or with no hinted set given (refuse), is not resolved locally', () => {
      for (const s of [{ hinted: [8, 9, 10] }, {}]) {
        const { session, touch } = setup({ remaining: [0], ...s });
        expect(touch(2).every((b) => b === 0xee)).toBe(true);
        expect(session.stats.resolvedLocally).toBe(0);
      }
    });

    it('a partial last huge page whose RAM pages are all hinted is zeroed up to the end of RAM', () => {
      const { session, destination } = setup({ pages: 10, remaining: [0], hinted: [8, 9] });
      expect(session.guestMemory.read(9 * PAGE_SIZE, PAGE_SIZE).every((b) => b === 0)).toBe(true);
      expect(session.stats.resolvedLocally).toBe(1);
      expect(destination.read(8 * PAGE_SIZE, 2 * PAGE_SIZE).every((b) => b === 0)).toBe(true);
    });
  });

  describe('placement violations', () => {
    it('a huge page that arrives again after it was placed is reported as received twice', () => {
      // The link replays huge page 0 once it went through whole.
      const seen: StreamRecord[] = [];
      const relay = new Relay((r, self) => {
        if (r.type !== 'PAGE' || r.gpa >= HUGE || seen.length === PER_HUGE) return;
        seen.push(r);
        if (seen.length === PER_HUGE) self.extra.push(...seen);
      });
      const { session, source, destination } = setup({ params: { tamper: (channel, chunk) => (channel === 'precopy' ? relay.pass(chunk) : chunk) } });
      session.background(Number.POSITIVE_INFINITY);
      expect(session.failed).toBeUndefined();
      expect(session.violations).toEqual(seen.map(() => ({ huge: 0, problem: 'twice' })));
      expect(same(destination.read(0, HUGE), source.read(0, HUGE))).toBe(true);
    });

    it('so is a record for a hinted huge page the destination already zeroed itself', () => {
      const relay = new Relay();
      const { session, touch } = setup({ remaining: [0, 1, 2, 3], hinted: [8, 9, 10, 11], params: { tamper: (channel, chunk) => (channel === 'precopy' ? relay.pass(chunk) : chunk) } });
      touch(2);
      expect(session.stats.resolvedLocally).toBe(1);
      relay.extra.push({ type: 'ZERO', gpa: 2 * HUGE, count: PER_HUGE });
      session.background(Number.POSITIVE_INFINITY);
      expect(session.violations).toEqual([{ huge: 2, problem: 'twice' }]);
    });
  });

  describe('a broken channel after the switchover', () => {
    function brokenSetup(broken: Channel, deliver: (chunk: Uint8Array, index: number) => Uint8Array | undefined, s: Setup = {}) {
      const calls: Array<[Channel, number]> = [];
      const tamper = (channel: Channel, chunk: Uint8Array, index: number): Uint8Array | undefined => {
        calls.push([channel, index]);
        return channel === broken ? deliver(chunk, index) : chunk;
      };
      return { ...setup({ ...s, params: { ...s.params, tamper } }), calls };
    }

    function expectFailed(session: PostcopySession, message: RegExp): MigrationError {
      const failure = session.failed;
      expect(failure).toBeInstanceOf(MigrationError);
      expect(failure!.kind).toBe('postcopy-failed');
      expect(failure!.message).toMatch(message);
      return failure!;
    }

    it('the tamper hook sees each channel’s chunks numbered from 0', () => {
      const { session, touch, calls } = brokenSetup('postcopy', (chunk) => chunk);
      expect(calls).toEqual([
        ['precopy', 0],
        ['postcopy', 0],
      ]);
      session.background(2 * PAGE_MS);
      touch(3);
      expect(calls.slice(2)).toEqual([
        ['precopy', 1],
        ['precopy', 2],
        ['postcopy', 1],
        ['postcopy', 2],
        ['postcopy', 3],
        ['postcopy', 4],
      ]);
    });

    it('a dropped chunk is a postcopy failure; the destination then stops listening', () => {
      // Only the second chunk is lost: the channel is broken for good, later bytes are not looked at.
      const { session, calls } = brokenSetup('precopy', (chunk, index) => (index === 1 ? undefined : chunk));
      session.background(Number.POSITIVE_INFINITY);
      expectFailed(session, /^the precopy channel broke after the switchover: the destination cannot fall back$/);
      expect(calls.filter(([c]) => c === 'precopy').map(([, i]) => i)).toEqual([0, 1]);
      // The sender finished its call (it cannot tell), but nothing more is sent.
      const sent = session.stats.precopyChannelBytes;
      session.background(Number.POSITIVE_INFINITY);
      expect(session.stats.precopyChannelBytes).toBe(sent);
      expect(session.remaining).toBe(4);
    });

    it('so is a truncated chunk', () => {
      const { session } = brokenSetup('precopy', (chunk, index) => (index === 0 ? chunk : chunk.subarray(0, chunk.length - 1)));
      session.background(PAGE_MS);
      expectFailed(session, /precopy channel broke/);
    });

    it('a corrupted record is a postcopy failure that names the stream error', () => {
      const { session, touch } = brokenSetup('postcopy', (chunk, index) => {
        if (index === 0) return chunk;
        const bad = chunk.slice();
        bad[20] = bad[20]! ^ 0xff;
        return bad;
      });
      expect(() => touch(1)).toThrow(MigrationError);
      const failure = expectFailed(session, /^the postcopy channel delivered a bad record: StreamError: record 1: checksum mismatch$/);
      expect(failure.cause).toBeInstanceOf(StreamError);
    });

    it('the faulting access and every later one throw the failure instead of reading anything', () => {
      const { session, touch } = brokenSetup('postcopy', (chunk, index) => (index === 0 ? chunk : undefined), { remaining: [0, 1, 2, 3, 4, 5, 6, 7] });
      let thrown: unknown;
      try {
        touch(0);
      } catch (error) {
        thrown = error;
      }
      const failure = expectFailed(session, /postcopy channel broke/);
      expect(thrown).toBe(failure);
      expect(session.stats.faults).toBe(1);
      // The vCPU is stopped: neither a missing page nor one that is there reads as anything.
      expect(() => touch(1)).toThrow(failure);
      expect(() => touch(3)).toThrow(failure);
      expect(session.stats.faults).toBe(1);
      session.background(Number.POSITIVE_INFINITY);
      expect(session.stats.precopyChannelBytes).toBe(0);
    });

    it('a channel that holds the page back fails the fault: the huge page never arrived', () => {
      const { session, touch } = brokenSetup('postcopy', (chunk, index) => (index === 1 ? join(stall(), chunk) : chunk));
      expect(() => touch(1)).toThrow(MigrationError);
      expectFailed(session, /^huge page 1 never arrived$/);
      expect(session.stats.faults).toBe(1);
      expect(session.remaining).toBe(4);
    });
  });
});

describe('RAM regions with a hole that is not huge-page aligned', () => {
  // RAM: pages 0–5 and 10–25; the hole 6–9 splits huge pages 1 (4–7) and 2 (8–11).
  const REGIONS = [
    { gpa: 0, size: 6 * PAGE_SIZE },
    { gpa: 10 * PAGE_SIZE, size: 16 * PAGE_SIZE },
  ];
  const RAM_PFNS = [0, 1, 2, 3, 4, 5, ...Array.from({ length: 16 }, (_, i) => 10 + i)];

  function holed(params: Partial<PostcopyParams> = {}) {
    const source = new CompactMemory({ regions: REGIONS, patternSeed: SEED });
    for (const pfn of RAM_PFNS) source.write(pfn * PAGE_SIZE, dataPage(pfn));
    const destination = new SparseMemory(REGIONS);
    for (const r of REGIONS) destination.fill(r.gpa, r.size, 0xee);
    const session = new PostcopySession(source, destination, { remaining: bitmap(26, RAM_PFNS), hintedClean: undefined }, { hugePageBytes: HUGE, preempt: true, linkLatencyMs: LINK_MS, cost: COST, ...params });
    const arrived = (): boolean => RAM_PFNS.every((pfn) => same(destination.read(pfn * PAGE_SIZE, PAGE_SIZE), dataPage(pfn)));
    return { session, arrived };
  }

  it('the background sends only RAM pages and places every huge page', () => {
    const { session, arrived } = holed();
    session.background(Number.POSITIVE_INFINITY);
    expect(session.failed).toBeUndefined();
    expect(session.remaining).toBe(0);
    expect(session.violations).toEqual([]);
    expect(session.stats.precopyChannelBytes).toBe(RAM_PFNS.length * WIRE_PAGE_BYTES);
    expect(arrived()).toBe(true);
  });

  it('a fault on a huge page that straddles the hole brings its RAM pages, on either side', () => {
    for (const preempt of [true, false]) {
      const { session } = holed({ preempt });
      // Page 5 is the last RAM page before the hole (huge page 1); page 10 the first after it (huge page 2).
      expect(same(session.guestMemory.read(5 * PAGE_SIZE, PAGE_SIZE), dataPage(5))).toBe(true);
      expect(same(session.guestMemory.read(10 * PAGE_SIZE, PAGE_SIZE), dataPage(10))).toBe(true);
      expect(session.failed).toBeUndefined();
      expect(session.stats.faults).toBe(2);
      // Each fault: the request, two RAM pages on the wire, the way back.
      expect(session.stats.faultLatencyMs.max).toBe(2 * LINK_MS + 2 * PAGE_MS);
      expect(session.violations).toEqual([]);
    }
  });

  it('a fault on the huge page in flight, once its RAM before the hole is sent, finishes it', () => {
    const { session, arrived } = holed({ preempt: false });
    session.background(4 * PAGE_MS + 2 * PAGE_MS); // huge page 0, then pages 4 and 5 of huge page 1
    expect(same(session.guestMemory.read(4 * PAGE_SIZE, PAGE_SIZE), dataPage(4))).toBe(true);
    session.background(Number.POSITIVE_INFINITY);
    expect(session.remaining).toBe(0);
    expect(session.violations).toEqual([]);
    expect(arrived()).toBe(true);
  });
});
