import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { writePatternPage } from '../../src/memory/described-pages.js';
import { Destination } from '../../src/migration/destination.js';
import { StreamError, StreamWriter } from '../../src/migration/stream.js';

// What a destination does with each record of a verified stream, and how it names a record
// that does not fit it. Streams are written with the real writer, so every record is valid.

const PAGES = 64;
const RAM = PAGES * PAGE_SIZE;

/** A destination whose every page holds 0x5c (memory left over from an earlier guest). */
function usedDestination(): Destination {
  const memory = new FlatMemory(RAM);
  memory.fill(0, RAM, 0x5c);
  return new Destination(memory, { fresh: false });
}

function page(memory: FlatMemory | Destination['memory'], pfn: number): Uint8Array {
  return memory.read(pfn * PAGE_SIZE, PAGE_SIZE);
}

function stream(write: (w: StreamWriter) => void, ramBytes = RAM): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new StreamWriter((c) => chunks.push(c));
  w.header(ramBytes);
  write(w);
  w.end();
  return Buffer.concat(chunks);
}

function apply(destination: Destination, bytes: Uint8Array) {
  const incoming = destination.incoming();
  incoming.push(bytes);
  return incoming.finish();
}

function rejection(destination: Destination, bytes: Uint8Array): StreamError {
  try {
    apply(destination, bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(StreamError);
    return e as StreamError;
  }
  throw new Error('the stream was accepted');
}

describe('the destination applies each record', () => {
  it('a run of one byte fills exactly its pages', () => {
    const d = usedDestination();
    const got = apply(
      d,
      stream((w) => w.fill(5 * PAGE_SIZE, 3, 0xaa)),
    );
    for (const pfn of [5, 6, 7]) expect(page(d.memory, pfn).every((b) => b === 0xaa)).toBe(true);
    for (const pfn of [4, 8]) expect(page(d.memory, pfn).every((b) => b === 0x5c)).toBe(true);
    // Pages sent whole (a fill run is whole pages on the wire) are pages, not zero pages.
    expect(got).toMatchObject({ pages: 3, zeroPages: 0, zeroPagesAlreadyZero: 0 });
  });

  it('zero records write only pages that are not zero already, and count the others', () => {
    const d = usedDestination();
    d.memory.fill(10 * PAGE_SIZE, 2 * PAGE_SIZE, 0); // pages 10 and 11 are zero already
    d.memory.dirtyLog.enable();
    const got = apply(
      d,
      stream((w) => w.zero(9 * PAGE_SIZE, 4)),
    );
    for (const pfn of [9, 10, 11, 12]) expect(page(d.memory, pfn).every((b) => b === 0)).toBe(true);
    expect(page(d.memory, 13).every((b) => b === 0x5c)).toBe(true);
    expect(got).toMatchObject({ pages: 0, zeroPages: 4, zeroPagesAlreadyZero: 2 });
    expect([...d.memory.dirtyLog.words].reduce((n, w) => n + (w.toString(2).match(/1/g)?.length ?? 0), 0)).toBe(2);
  });

  it('a whole page of zeros is written as zeros but is not a zero record', () => {
    const d = usedDestination();
    d.memory.fill(4 * PAGE_SIZE, PAGE_SIZE, 0); // already zero: still not counted as a zero record
    const got = apply(
      d,
      stream((w) => (w.page(3 * PAGE_SIZE, new Uint8Array(PAGE_SIZE)), w.page(4 * PAGE_SIZE, new Uint8Array(PAGE_SIZE)))),
    );
    expect(page(d.memory, 3).every((b) => b === 0)).toBe(true);
    expect(got).toMatchObject({ pages: 2, zeroPages: 0, zeroPagesAlreadyZero: 0 });
  });

  it('a page holding a guest pattern arrives byte for byte, at its own address or another', () => {
    const scratch = new FlatMemory(RAM);
    writePatternPage(scratch, 77, 20, 3);
    const patterned = page(scratch, 20);
    const d = usedDestination();
    // The same bytes at pfn 20 (where the pattern names itself) and at pfn 30 (where it does not).
    apply(
      d,
      stream((w) => (w.page(20 * PAGE_SIZE, patterned), w.page(30 * PAGE_SIZE, patterned))),
    );
    expect(Buffer.compare(page(d.memory, 20), patterned)).toBe(0);
    expect(Buffer.compare(page(d.memory, 30), patterned)).toBe(0);
  });

  it('arbitrary page bytes arrive as they were', () => {
    const bytes = new Uint8Array(PAGE_SIZE).map((_, i) => (i * 7 + 1) & 0xff);
    const d = usedDestination();
    apply(
      d,
      stream((w) => w.page(0, bytes)),
    );
    expect(Buffer.compare(page(d.memory, 0), bytes)).toBe(0);
  });

  it('a later record for a page wins over an earlier one', () => {
    const d = usedDestination();
    apply(
      d,
      stream((w) => (w.fill(2 * PAGE_SIZE, 1, 1), w.round(2), w.zero(2 * PAGE_SIZE, 1))),
    );
    expect(page(d.memory, 2).every((b) => b === 0)).toBe(true);
  });

  it('device records are handed over by name', () => {
    const got = apply(
      usedDestination(),
      stream((w) => (w.device('balloon', { actual: 4 }), w.device('overlays', []))),
    );
    expect([...got.devices]).toEqual([
      ['balloon', { actual: 4 }],
      ['overlays', []],
    ]);
  });

  it('a destination is not fresh once a stream was applied, and is untouched by one rejected', () => {
    const d = new Destination(new FlatMemory(RAM));
    expect(d.fresh).toBe(true);
    expect(() =>
      apply(
        d,
        stream((w) => w.fill(0, 1, 9), RAM * 2),
      ),
    ).toThrow(StreamError);
    expect(d.fresh).toBe(true);
    expect(page(d.memory, 0).every((b) => b === 0)).toBe(true);
    apply(
      d,
      stream(() => {}),
    );
    expect(d.fresh).toBe(false);
  });
});

describe('the destination names what does not fit it', () => {
  it('a stream for another RAM size', () => {
    const e = rejection(
      usedDestination(),
      stream(() => {}, RAM + PAGE_SIZE),
    );
    expect(e.kind).toBe('bad-header');
    expect(e.record).toBe(0);
    expect(e.message).toBe(`record 0: stream is for ${RAM + PAGE_SIZE} bytes of RAM, the destination has ${RAM}`);
  });

  it('pages outside RAM or not page aligned, by record number and address', () => {
    const beyond = rejection(
      usedDestination(),
      stream((w) => (w.round(1), w.zero((PAGES - 1) * PAGE_SIZE, 2))),
    );
    expect(beyond.kind).toBe('bad-record');
    expect(beyond.record).toBe(2);
    expect(beyond.message).toBe(`record 2: 2 page(s) at 0x${((PAGES - 1) * PAGE_SIZE).toString(16)} are not RAM here`);
    const unaligned = rejection(
      usedDestination(),
      stream((w) => w.page(PAGE_SIZE + 8, new Uint8Array(PAGE_SIZE))),
    );
    expect(unaligned.record).toBe(1);
    expect(unaligned.message).toMatch(/1 page\(s\) at 0x1008 are not RAM here/);
    const pattern = rejection(
      usedDestination(),
      stream((w) => w.pattern((PAGES - 1) * PAGE_SIZE, 1, [{ count: 2, version: 1 }])),
    );
    expect(pattern.message).toMatch(/2 page\(s\) at 0x3f000 are not RAM here/);
  });

  it('after a bad record, later bytes are ignored and the stream stays rejected', () => {
    const d = usedDestination();
    const incoming = d.incoming();
    incoming.push(stream((w) => w.fill(PAGES * PAGE_SIZE, 1, 1)));
    incoming.push(new Uint8Array([1, 2, 3])); // would be a framing error of its own
    expect(() => incoming.finish()).toThrow(/record 1: 1 page\(s\) at 0x40000 are not RAM here/);
    expect(page(d.memory, 0).every((b) => b === 0x5c)).toBe(true);
  });
});
