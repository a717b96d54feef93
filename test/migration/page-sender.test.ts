import { describe, expect, it } from 'vitest';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { writePatternPage } from '../../src/memory/described-pages.js';
import { DEFAULT_COST_MODEL, SimClock, WIRE_PAGE_BYTES, WIRE_ZERO_PAGE_BYTES, type CostModel } from '../../src/migration/cost-model.js';
import { OverlayManager } from '../../src/migration/overlay.js';
import { PageSender, type ZeroPolicy } from '../../src/migration/page-sender.js';
import { StreamReader, StreamWriter, type StreamRecord } from '../../src/migration/stream.js';

// Costs picked so every figure is a whole number of ms: reading a page takes 1 ms and 9 bytes
// take 1 ms on the wire, so a zero page (scan + 9 B header) costs 2 ms and a whole page
// (scan + 4104 B) costs 1 + 456 = 457 ms.
const COST: CostModel = { ...DEFAULT_COST_MODEL, scanRate: PAGE_SIZE * 1000, bandwidth: 9000 };
const ZERO_MS = 1 + (WIRE_ZERO_PAGE_BYTES * 1000) / COST.bandwidth;
const PAGE_MS = 1 + (WIRE_PAGE_BYTES * 1000) / COST.bandwidth;
const SEED = 0x5eed;
const PAGES = 32;

const DETECT: ZeroPolicy = { detectZero: true, skipZero: false };
const WHOLE: ZeroPolicy = { detectZero: false, skipZero: false };
const SKIP: ZeroPolicy = { detectZero: true, skipZero: true };

/** A record reduced to what a test compares: kind, first pfn, and the run it describes. */
type Sent = ['PAGE', number] | ['ZERO', number, number] | ['FILL', number, number, number] | ['PATTERN', number, number[]];

function memory(): CompactMemory {
  return new CompactMemory({ regions: PAGES * PAGE_SIZE, patternSeed: SEED });
}

/** Page `pfn` holds bytes that have no short description. */
function writeData(m: CompactMemory, pfn: number): Uint8Array {
  const data = new Uint8Array(PAGE_SIZE).map((_, i) => (i * 31 + pfn * 7 + 1) & 0xff);
  m.write(pfn * PAGE_SIZE, data);
  return data;
}

function fillPages(m: CompactMemory, pfn: number, count: number, byte: number): void {
  m.fill(pfn * PAGE_SIZE, count * PAGE_SIZE, byte);
}

function harness(m: CompactMemory, overlays?: OverlayManager) {
  const records: StreamRecord[] = [];
  const reader = new StreamReader((r) => records.push(r));
  const writer = new StreamWriter((chunk) => reader.push(chunk));
  writer.header(m.end);
  // The sender only prices pages; running the guest is its caller's business.
  const clock = new SimClock(COST, () => {
    throw new Error('the sender charged the clock');
  });
  const sender = new PageSender(m, writer, clock, overlays);
  const sent = (): Sent[] =>
    records.flatMap((r): Sent[] => {
      switch (r.type) {
        case 'PAGE':
          return [['PAGE', r.gpa / PAGE_SIZE]];
        case 'ZERO':
          return [['ZERO', r.gpa / PAGE_SIZE, r.count]];
        case 'FILL':
          return [['FILL', r.gpa / PAGE_SIZE, r.count, r.byte]];
        case 'PATTERN':
          return [['PATTERN', r.gpa / PAGE_SIZE, r.runs.flatMap((run) => Array<number>(run.count).fill(run.version))]];
        default:
          return [];
      }
    });
  return { sender, records, sent };
}

describe('PageSender', () => {
  it('stops at its byte budget, counted from where each call starts (the rate limiter’s room)', () => {
    const m = memory();
    const { sender } = harness(m);
    // Zero records are 9 bytes: 90 bytes of room take 10 pages, and the next call 10 more.
    expect(sender.send(0, PAGES, DETECT, Number.POSITIVE_INFINITY, 10 * WIRE_ZERO_PAGE_BYTES).next).toBe(10);
    expect(sender.send(10, PAGES, DETECT, Number.POSITIVE_INFINITY, 10 * WIRE_ZERO_PAGE_BYTES).next).toBe(20);
    // Without detection they go whole: the same room takes a single page (checked before each page).
    const whole = harness(memory()).sender;
    expect(whole.send(0, PAGES, WHOLE, Number.POSITIVE_INFINITY, 10 * WIRE_ZERO_PAGE_BYTES).next).toBe(1);
    expect(whole.send(1, PAGES, WHOLE, Number.POSITIVE_INFINITY, 2 * WIRE_PAGE_BYTES).next).toBe(3);
    // Skipped zero pages cost no bytes: the budget never stops them.
    expect(harness(memory()).sender.send(0, PAGES, SKIP, Number.POSITIVE_INFINITY, 1).next).toBe(PAGES);
  });

  it('sends each kind of page as its record and charges QEMU wire sizes: 4104 B a page, 9 B a zero page', () => {
    const m = memory();
    // 0-3 zero, 4-5 poison 0xAA, 6 bytes, 7 poison 0xBB, 8-9 guest patterns, 10-11 zero.
    fillPages(m, 4, 2, 0xaa);
    const data = writeData(m, 6);
    fillPages(m, 7, 1, 0xbb);
    writePatternPage(m, SEED, 8, 3);
    writePatternPage(m, SEED, 9, 5);
    const { sender, records, sent } = harness(m);
    const { next, ms } = sender.send(0, 12, DETECT, Number.POSITIVE_INFINITY);
    sender.flush();
    expect(next).toBe(12);
    expect(sent()).toEqual([
      ['ZERO', 0, 4],
      ['FILL', 4, 2, 0xaa],
      ['PAGE', 6],
      ['FILL', 7, 1, 0xbb],
      ['PATTERN', 8, [3, 5]],
      ['ZERO', 10, 2],
    ]);
    const page = records.find((r) => r.type === 'PAGE');
    expect(page?.type === 'PAGE' && Buffer.compare(page.data, data)).toBe(0);
    // Data: the poison, byte and pattern pages (4-9).
    expect(sender.counts).toEqual({ normalPages: 6, zeroPages: 6, skippedZeroPages: 0, dataPages: 6 });
    expect(sender.wireBytes).toBe(6 * WIRE_PAGE_BYTES + 6 * WIRE_ZERO_PAGE_BYTES);
    expect(ms).toBe(6 * PAGE_MS + 6 * ZERO_MS);
  });

  it('sends pattern pages of one version as one run, and still charges each page whole', () => {
    const m = memory();
    for (let pfn = 2; pfn < 12; pfn++) writePatternPage(m, SEED, pfn, pfn < 9 ? 4 : 6);
    const { sender, records } = harness(m);
    const { next, ms } = sender.send(2, 12, DETECT, Number.POSITIVE_INFINITY);
    sender.flush();
    expect(next).toBe(12);
    expect(records.filter((r) => r.type === 'PATTERN')).toEqual([
      {
        type: 'PATTERN',
        gpa: 2 * PAGE_SIZE,
        seed: SEED,
        runs: [
          { count: 7, version: 4 },
          { count: 3, version: 6 },
        ],
      },
    ]);
    expect(sender.counts.normalPages).toBe(10);
    expect(sender.wireBytes).toBe(10 * WIRE_PAGE_BYTES);
    expect(ms).toBe(10 * PAGE_MS);
  });

  it('pattern pages that follow each other go as one record however the calls cut them, until another record must go', () => {
    const m = memory();
    for (let pfn = 2; pfn < 12; pfn++) writePatternPage(m, SEED, pfn, pfn < 9 ? 4 : 6);
    const { sender, records } = harness(m);
    for (const [first, end] of [
      [2, 5],
      [5, 8],
      [8, 12],
    ] as const)
      sender.send(first, end, DETECT, Number.POSITIVE_INFINITY);
    expect(records.filter((r) => r.type === 'PATTERN')).toEqual([]); // still pending
    sender.flush();
    expect(records.filter((r) => r.type === 'PATTERN')).toEqual([
      {
        type: 'PATTERN',
        gpa: 2 * PAGE_SIZE,
        seed: SEED,
        runs: [
          { count: 7, version: 4 },
          { count: 3, version: 6 },
        ],
      },
    ]);
    // A gap ends the record.
    const gap = harness(m);
    gap.sender.send(2, 5, DETECT, Number.POSITIVE_INFINITY);
    gap.sender.send(6, 12, DETECT, Number.POSITIVE_INFINITY);
    gap.sender.flush();
    expect(gap.records.filter((r) => r.type === 'PATTERN').map((r) => r.type === 'PATTERN' && r.gpa / PAGE_SIZE)).toEqual([2, 6]);
  });

  it('without zero detection a zero page travels whole, and never joins a run of another byte', () => {
    const m = memory();
    fillPages(m, 2, 2, 0xaa);
    const { sender, sent } = harness(m);
    const { next, ms } = sender.send(0, 6, WHOLE, Number.POSITIVE_INFINITY);
    sender.flush();
    expect(next).toBe(6);
    expect(sent()).toEqual([
      ['FILL', 0, 2, 0],
      ['FILL', 2, 2, 0xaa],
      ['FILL', 4, 2, 0],
    ]);
    // Whole pages, but only the two poison pages hold data.
    expect(sender.counts).toEqual({ normalPages: 6, zeroPages: 0, skippedZeroPages: 0, dataPages: 2 });
    expect(sender.wireBytes).toBe(6 * WIRE_PAGE_BYTES);
    expect(ms).toBe(6 * PAGE_MS);
  });

  it('zero-skip sends no zero page but still reads each one; poison pages still go whole', () => {
    const m = memory();
    fillPages(m, 3, 1, 0xaa);
    const { sender, sent } = harness(m);
    const { next, ms } = sender.send(0, 6, SKIP, Number.POSITIVE_INFINITY);
    sender.flush();
    expect(next).toBe(6);
    expect(sent()).toEqual([['FILL', 3, 1, 0xaa]]);
    expect(sender.counts).toEqual({ normalPages: 1, zeroPages: 0, skippedZeroPages: 5, dataPages: 1 });
    expect(sender.wireBytes).toBe(WIRE_PAGE_BYTES);
    // A skipped page costs its scan only (1 ms).
    expect(ms).toBe(5 * 1 + PAGE_MS);
  });

  describe('the time budget of one call', () => {
    it('stops at the first page boundary at or past the budget', () => {
      const m = memory();
      for (let pfn = 0; pfn < 8; pfn++) writeData(m, pfn);
      const exact = harness(m).sender.send(0, 8, DETECT, 2 * PAGE_MS);
      expect(exact).toEqual({ next: 2, ms: 2 * PAGE_MS });
      // A page started before the budget ran out is finished.
      const over = harness(m).sender.send(0, 8, DETECT, 2 * PAGE_MS + 1);
      expect(over).toEqual({ next: 3, ms: 3 * PAGE_MS });
      const none = harness(m);
      expect(none.sender.send(3, 8, DETECT, 0)).toEqual({ next: 3, ms: 0 });
      none.sender.flush();
      expect(none.sent()).toEqual([]);
      expect(none.sender.wireBytes).toBe(0);
    });

    it('bounds runs of zero pages, of one byte and of patterns by what is left of it', () => {
      const m = memory();
      fillPages(m, 8, 8, 0xaa);
      for (let pfn = 16; pfn < 24; pfn++) writePatternPage(m, SEED, pfn, 1);
      // 5 ms buys ceil(5 / 2) = 3 zero pages.
      expect(harness(m).sender.send(0, 8, DETECT, 5)).toEqual({ next: 3, ms: 3 * ZERO_MS });
      expect(harness(m).sender.send(8, 16, DETECT, 2 * PAGE_MS)).toEqual({ next: 10, ms: 2 * PAGE_MS });
      expect(harness(m).sender.send(16, 24, DETECT, 2 * PAGE_MS)).toEqual({ next: 18, ms: 2 * PAGE_MS });
    });

    it('counts what the call already spent before sizing a run', () => {
      const m = memory();
      writeData(m, 0);
      // One whole page, then 4 ms left: two zero pages.
      expect(harness(m).sender.send(0, 8, DETECT, PAGE_MS + 4)).toEqual({ next: 3, ms: PAGE_MS + 2 * ZERO_MS });
      fillPages(m, 8, 8, 0xaa);
      writeData(m, 7);
      // One whole page, then PAGE_MS + 1 left: two pages of the poison run.
      expect(harness(m).sender.send(7, 16, DETECT, 2 * PAGE_MS + 1)).toEqual({ next: 10, ms: 3 * PAGE_MS });
    });
  });

  describe('runs of one-byte pages', () => {
    it('grow across calls into one record, written at flush', () => {
      const m = memory();
      fillPages(m, 8, 6, 0xaa);
      const { sender, sent } = harness(m);
      let pfn = 0;
      while (pfn < 14) pfn = sender.send(pfn, 14, DETECT, 1).next;
      // The zero run went when the poison run began; the poison run may still grow.
      expect(sent()).toEqual([['ZERO', 0, 8]]);
      sender.flush();
      expect(sent()).toEqual([
        ['ZERO', 0, 8],
        ['FILL', 8, 6, 0xaa],
      ]);
      expect(sender.counts).toEqual({ normalPages: 6, zeroPages: 8, skippedZeroPages: 0, dataPages: 6 });
      sender.flush();
      expect(sent()).toHaveLength(2);
    });

    it('do not join across a gap, or when the zero policy changed', () => {
      const m = memory();
      const { sender, sent } = harness(m);
      sender.send(0, 2, DETECT, Number.POSITIVE_INFINITY);
      sender.send(3, 5, DETECT, Number.POSITIVE_INFINITY);
      // Same pages of zeros, but now sent whole: a ZERO record would misstate the bytes charged.
      sender.send(5, 7, WHOLE, Number.POSITIVE_INFINITY);
      sender.flush();
      expect(sent()).toEqual([
        ['ZERO', 0, 2],
        ['ZERO', 3, 2],
        ['FILL', 5, 2, 0],
      ]);
      expect(sender.wireBytes).toBe(4 * WIRE_ZERO_PAGE_BYTES + 2 * WIRE_PAGE_BYTES);
    });

    it('end before a page that holds anything else', () => {
      const m = memory();
      fillPages(m, 0, 3, 0xaa);
      writeData(m, 3);
      fillPages(m, 4, 1, 0xbb);
      writePatternPage(m, SEED, 5, 9);
      fillPages(m, 6, 2, 0xbb);
      const { sender, sent } = harness(m);
      sender.send(0, 8, DETECT, Number.POSITIVE_INFINITY);
      sender.flush();
      expect(sent()).toEqual([
        ['FILL', 0, 3, 0xaa],
        ['PAGE', 3],
        ['FILL', 4, 1, 0xbb],
        ['PATTERN', 5, [9]],
        ['FILL', 6, 2, 0xbb],
      ]);
    });
  });

  it('never sends an overlaid page from RAM, even one that reads as zero', () => {
    const m = memory();
    const overlays = new OverlayManager(m);
    for (const pfn of [2, 5, 12]) overlays.add(pfn, { kind: 'synic-message', params: [pfn] });
    // The guest cleared its message slots: the overlay pages read as zero like their neighbours.
    for (const pfn of [2, 5, 12]) fillPages(m, pfn, 1, 0);
    const { sender, sent } = harness(m, overlays);
    const { next, ms } = sender.send(2, 12, DETECT, Number.POSITIVE_INFINITY);
    sender.flush();
    expect(next).toBe(12);
    expect(sent()).toEqual([
      ['ZERO', 3, 2],
      ['ZERO', 6, 6],
    ]);
    expect(sender.counts.zeroPages).toBe(8);
    expect(ms).toBe(8 * ZERO_MS);
  });

  it('sends an overlaid page’s neighbours whole up to the overlay, and nothing of the overlay', () => {
    const m = memory();
    fillPages(m, 0, 8, 0xaa);
    const overlays = new OverlayManager(m);
    overlays.add(4, { kind: 'hypercall', params: [] });
    fillPages(m, 4, 1, 0xaa);
    const { sender, sent } = harness(m, overlays);
    sender.send(0, 8, DETECT, Number.POSITIVE_INFINITY);
    sender.flush();
    expect(sent()).toEqual([
      ['FILL', 0, 4, 0xaa],
      ['FILL', 5, 3, 0xaa],
    ]);
  });
});
