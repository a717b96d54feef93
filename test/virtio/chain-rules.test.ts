import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { readChain, type ChainContext } from '../../src/virtio/descriptor-chain.js';
import { VirtioError, type VirtioErrorKind } from '../../src/virtio/errors.js';

// One test per rule of virtio 1.2 §2.7.5: descriptors are written byte by byte here, not with
// the driver-side ring, so the reader is checked against the layout itself.

const NEXT = 1;
const WRITE = 2;
const INDIRECT = 4;
const TABLE = 0x1000;
const Q = 8;

interface Desc {
  addr: number;
  len: number;
  flags?: number;
  next?: number;
  /** High 32 bits of addr, to write addresses past 2^53. */
  high?: number;
}

/** Two RAM regions with a hole: [0, 64 KiB) and [128 KiB, 192 KiB). */
function memoryWith(descs: readonly Desc[], at = TABLE): FlatMemory {
  const m = new FlatMemory([
    { gpa: 0, size: 0x10000 },
    { gpa: 0x20000, size: 0x10000 },
  ]);
  writeTable(m, descs, at);
  return m;
}

function writeTable(m: FlatMemory, descs: readonly Desc[], at: number): void {
  descs.forEach((d, i) => {
    const base = at + 16 * i;
    m.writeU32(base, d.addr % 2 ** 32);
    m.writeU32(base + 4, d.high ?? Math.floor(d.addr / 2 ** 32));
    m.writeU32(base + 8, d.len);
    m.writeU16(base + 12, d.flags ?? 0);
    m.writeU16(base + 14, d.next ?? 0);
  });
}

const ctx = (memory: FlatMemory, indirect = true): ChainContext => ({ memory, descTable: TABLE, queueSize: Q, indirect });

/** The chain is rejected for `kind`, with a message that names the offending value. */
function rejects(kind: VirtioErrorKind, memory: FlatMemory, message: RegExp, head = 0, indirect = true): void {
  let error: unknown;
  try {
    readChain(ctx(memory, indirect), head);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(VirtioError);
  expect((error as VirtioError).name).toBe('VirtioError');
  expect((error as VirtioError).kind).toBe(kind);
  expect((error as VirtioError).message).toMatch(message);
}

/** A memory that claims every range is RAM, for chains larger than any test RAM. */
class Boundless extends FlatMemory {
  override contains(): boolean {
    return true;
  }
}

describe('readChain accepts what §2.7.5 allows', () => {
  it('walks a NEXT chain: readable segments, then writable ones, with their lengths', () => {
    const m = memoryWith([{ addr: 0x2000, len: 10, flags: NEXT, next: 3 }, {}, {}, { addr: 0x2100, len: 20, flags: NEXT | WRITE, next: 5 }, {}, { addr: 0x20000, len: 30, flags: WRITE }] as Desc[]);
    const chain = readChain(ctx(m), 0);
    expect(chain.head).toBe(0);
    expect(chain.readable).toEqual([{ gpa: 0x2000, length: 10 }]);
    expect(chain.writable).toEqual([
      { gpa: 0x2100, length: 20 },
      { gpa: 0x20000, length: 30 },
    ]);
    expect([chain.readableLength, chain.writableLength]).toEqual([10, 50]);
  });

  it('takes direct descriptors followed by one indirect table, ignoring WRITE on the pointer (§2.7.5.3)', () => {
    const m = memoryWith([
      { addr: 0x2000, len: 8, flags: NEXT, next: 1 },
      { addr: 0x3000, len: 32, flags: INDIRECT | WRITE },
    ]);
    writeTable(
      m,
      [
        { addr: 0x2200, len: 4, flags: NEXT, next: 1 },
        { addr: 0x2300, len: 16, flags: WRITE },
      ],
      0x3000,
    );
    const chain = readChain(ctx(m), 0);
    expect(chain.readable).toEqual([
      { gpa: 0x2000, length: 8 },
      { gpa: 0x2200, length: 4 },
    ]);
    expect(chain.writable).toEqual([{ gpa: 0x2300, length: 16 }]);
  });

  it('reads 64-bit buffer addresses, saturating those of 2^53 and more', () => {
    const big = new Boundless(0x10000);
    const huge: ChainContext = { memory: big, descTable: TABLE, queueSize: Q, indirect: true };
    const gpaOf = (high: number, low: number): number => {
      writeTable(big, [{ addr: low, high, len: 1 }], TABLE);
      return readChain(huge, 0).readable[0]!.gpa;
    };
    expect(gpaOf(1, 0x2000)).toBe(2 ** 32 + 0x2000);
    expect(gpaOf(0x1fffff, 0xffffffff)).toBe(Number.MAX_SAFE_INTEGER);
    expect(gpaOf(0x1fffff, 0)).toBe(0x1fffff * 2 ** 32);
    expect(gpaOf(0x200000, 0)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('accepts a buffer that spans two adjacent RAM regions', () => {
    const m = new FlatMemory([
      { gpa: 0, size: 0x10000 },
      { gpa: 0x10000, size: 0x10000 },
    ]);
    writeTable(m, [{ addr: 0xff00, len: 0x200 }], TABLE);
    expect(readChain(ctx(m), 0).readable).toEqual([{ gpa: 0xff00, length: 0x200 }]);
  });
});

describe('readChain rejects each thing a driver must not do', () => {
  it('a head outside the queue', () => rejects('head-out-of-range', memoryWith([]), /^chain head 8 is outside a queue of 8$/, Q));

  it('a next index outside the table', () => {
    rejects('next-out-of-range', memoryWith([{ addr: 0x2000, len: 1, flags: NEXT, next: Q }]), /^descriptor 0 links to 8, outside a table of 8$/);
    // An indirect table of two entries is a table of two: entry 1 may not link to 2.
    const m = memoryWith([{ addr: 0x3000, len: 32, flags: INDIRECT }]);
    writeTable(
      m,
      [
        { addr: 0x2000, len: 1, flags: NEXT, next: 1 },
        { addr: 0x2000, len: 1, flags: NEXT, next: 2 },
      ],
      0x3000,
    );
    rejects('next-out-of-range', m, /^descriptor 1 links to 2, outside a table of 2$/);
  });

  it('a loop in the descriptor table (more descriptors than the queue size)', () => {
    rejects(
      'chain-too-long',
      memoryWith([
        { addr: 0x2000, len: 1, flags: NEXT, next: 1 },
        { addr: 0x2000, len: 1, flags: NEXT, next: 0 },
      ]),
      /^chain from head 0 has more descriptors than its table \(a loop\)$/,
    );
    rejects('chain-too-long', memoryWith([{ addr: 0x2000, len: 1, flags: NEXT, next: 0 }]), /a loop/);
  });

  it('a loop inside an indirect table', () => {
    const m = memoryWith([{ addr: 0x3000, len: 32, flags: INDIRECT }]);
    writeTable(
      m,
      [
        { addr: 0x2000, len: 1, flags: NEXT, next: 1 },
        { addr: 0x2000, len: 1, flags: NEXT, next: 0 },
      ],
      0x3000,
    );
    rejects('chain-too-long', m, /a loop/);
  });

  it('a buffer outside RAM: in the hole, straddling into it, past the end, or past 2^53', () => {
    rejects('buffer-out-of-range', memoryWith([{ addr: 0x18000, len: 1 }]), /^descriptor 0 buffer 0x18000\+1 is not in guest RAM$/);
    rejects('buffer-out-of-range', memoryWith([{ addr: 0xfff0, len: 0x20 }]), /0xfff0\+32 is not in guest RAM/);
    rejects('buffer-out-of-range', memoryWith([{ addr: 0x2fff0, len: 0x20 }]), /0x2fff0\+32/);
    rejects('buffer-out-of-range', memoryWith([{ addr: 0x1000, len: 4, high: 0x200000 }]), /0x1fffffffffffff\+4/);
    rejects('buffer-out-of-range', memoryWith([{ addr: 0, len: 4, high: 0xffffffff }]), /0x1fffffffffffff\+4/);
  });

  it('INDIRECT without VIRTIO_F_INDIRECT_DESC', () => rejects('indirect-not-negotiated', memoryWith([{ addr: 0x3000, len: 16, flags: INDIRECT }]), /^descriptor 0 is INDIRECT without VIRTIO_F_INDIRECT_DESC$/, 0, false));

  it('INDIRECT together with NEXT', () => rejects('indirect-with-next', memoryWith([{ addr: 0x3000, len: 16, flags: INDIRECT | NEXT, next: 1 }]), /^descriptor 0 sets both INDIRECT and NEXT$/));

  it('an INDIRECT descriptor inside an indirect table', () => {
    const m = memoryWith([{ addr: 0x3000, len: 32, flags: INDIRECT }]);
    writeTable(
      m,
      [
        { addr: 0x2000, len: 1, flags: NEXT, next: 1 },
        { addr: 0x3000, len: 16, flags: INDIRECT },
      ],
      0x3000,
    );
    rejects('nested-indirect', m, /^indirect table holds an INDIRECT descriptor \(1\)$/);
  });

  it('an indirect table of zero length, a length not a multiple of 16, or too many entries', () => {
    rejects('bad-indirect-length', memoryWith([{ addr: 0x3000, len: 0, flags: INDIRECT }]), /^indirect table length 0 is not a non-zero multiple of 16 up to 32768 entries$/);
    rejects('bad-indirect-length', memoryWith([{ addr: 0x3000, len: 24, flags: INDIRECT }]), /length 24 /);
    rejects('bad-indirect-length', memoryWith([{ addr: 0x3000, len: 16 * 32769, flags: INDIRECT }]), /length 524304 /);
    // 32768 entries is the most a table may hold, and allowed.
    const m = new FlatMemory(0x100000);
    writeTable(m, [{ addr: 0x10000, len: 16 * 32768, flags: INDIRECT }], TABLE);
    writeTable(m, [{ addr: 0x2000, len: 1 }], 0x10000);
    expect(readChain(ctx(m), 0).readableLength).toBe(1);
  });

  it('an indirect table that is not in RAM', () => rejects('buffer-out-of-range', memoryWith([{ addr: 0x18000, len: 32, flags: INDIRECT }]), /^indirect table 0x18000\+32 is not in guest RAM$/));

  it('a device-readable descriptor after a device-writable one, also across the indirect boundary', () => {
    rejects(
      'readable-after-writable',
      memoryWith([
        { addr: 0x2000, len: 1, flags: WRITE | NEXT, next: 1 },
        { addr: 0x2000, len: 1 },
      ]),
      /^descriptor 1 is device-readable but follows a device-writable one$/,
    );
    const m = memoryWith([
      { addr: 0x2000, len: 1, flags: WRITE | NEXT, next: 1 },
      { addr: 0x3000, len: 16, flags: INDIRECT },
    ]);
    writeTable(m, [{ addr: 0x2000, len: 1 }], 0x3000);
    rejects('readable-after-writable', m, /^descriptor 0 is device-readable/);
  });

  it('a chain of 2^32 bytes or more (§2.7.5.2)', () => {
    // Real RAM that large is not needed: a memory that claims every range is RAM.
    const big = new Boundless(0x10000);
    const huge: ChainContext = { memory: big, descTable: TABLE, queueSize: Q, indirect: true };
    writeTable(
      big,
      [
        { addr: 0x100000, len: 0x80000000, flags: NEXT, next: 1 },
        { addr: 0x100000, len: 0x80000000 },
      ],
      TABLE,
    );
    expect(() => readChain(huge, 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-large', message: 'chain from head 0 is 2^32 bytes or more' }) as Error);
    // Readable and writable bytes count together.
    writeTable(
      big,
      [
        { addr: 0x100000, len: 0x80000000, flags: NEXT, next: 1 },
        { addr: 0x100000, len: 0x80000000, flags: WRITE },
      ],
      TABLE,
    );
    expect(() => readChain(huge, 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-large' }) as Error);
    writeTable(
      big,
      [
        { addr: 0x100000, len: 0x80000000, flags: NEXT, next: 1 },
        { addr: 0x100000, len: 0x7fffffff },
      ],
      TABLE,
    );
    expect(readChain(huge, 0).readableLength).toBe(0xffffffff);
  });
});

describe('readChain keeps to the queue limits (§2.7.4.1: a device may limit a chain)', () => {
  const limited = (memory: FlatMemory, maxSegments: number, maxBytes: number): ChainContext => ({ ...ctx(memory), limits: { maxSegments, maxBytes, cost: 0 } });
  const linked = (n: number, len = 1): Desc[] => Array.from({ length: n }, (_, i) => ({ addr: 0x2000, len, flags: i < n - 1 ? NEXT : 0, next: i + 1 }));

  it('takes exactly maxSegments buffers and refuses one more, after reading no more than that', () => {
    expect(readChain(limited(memoryWith(linked(3)), 3, 100), 0).readable).toHaveLength(3);
    const m = memoryWith(linked(4));
    expect(() => readChain(limited(m, 3, 100), 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-long', message: "chain from head 0 has more than 3 buffers, this queue's limit" }) as Error);
  });

  it('counts readable and writable buffers together', () => {
    const m = memoryWith([
      { addr: 0x2000, len: 1, flags: NEXT, next: 1 },
      { addr: 0x2000, len: 1, flags: NEXT | WRITE, next: 2 },
      { addr: 0x2000, len: 1, flags: NEXT | WRITE, next: 3 },
      { addr: 0x2000, len: 1, flags: WRITE },
    ]);
    expect(readChain(limited(m, 4, 100), 0).writable).toHaveLength(3);
    expect(() => readChain(limited(m, 3, 100), 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-long' }) as Error);
  });

  it("allows 1024 buffers when the device sets no limit (QEMU's VIRTQUEUE_MAX_SIZE), not 1025", () => {
    const m = new FlatMemory(0x100000);
    const table = (n: number): Desc[] => Array.from({ length: n }, (_, i) => ({ addr: 0x8000, len: 1, flags: i < n - 1 ? NEXT : 0, next: i + 1 }));
    writeTable(m, [{ addr: 0x10000, len: 16 * 1024, flags: INDIRECT }], TABLE);
    writeTable(m, table(1024), 0x10000);
    expect(readChain(ctx(m), 0).readable).toHaveLength(1024);
    writeTable(m, [{ addr: 0x10000, len: 16 * 1025, flags: INDIRECT }], TABLE);
    writeTable(m, table(1025), 0x10000);
    expect(() => readChain(ctx(m), 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-long', message: "chain from head 0 has more than 1024 buffers, this queue's limit" }) as Error);
  });

  it('counts buffers across an indirect table, not the table descriptor', () => {
    const m = memoryWith([
      { addr: 0x2000, len: 1, flags: NEXT, next: 1 },
      { addr: 0x3000, len: 32, flags: INDIRECT },
    ]);
    writeTable(m, linked(2), 0x3000);
    expect(readChain(limited(m, 3, 100), 0).readableLength).toBe(3);
    expect(() => readChain(limited(m, 2, 100), 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-long' }) as Error);
  });

  it('takes exactly maxBytes and refuses one byte more, readable and writable together', () => {
    const m = memoryWith([
      { addr: 0x2000, len: 60, flags: NEXT, next: 1 },
      { addr: 0x2000, len: 40, flags: WRITE },
    ]);
    expect(readChain(limited(m, 8, 100), 0).writableLength).toBe(40);
    expect(() => readChain(limited(m, 8, 99), 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-large', message: "chain from head 0 holds more than 99 bytes, this queue's limit" }) as Error);
  });

  it('refuses aliased buffers once they add up past the limit: an indirect table of the same buffer', () => {
    // The hostile shape of the issue: every entry of a big table points at the same 4 KiB.
    const m = new FlatMemory(0x100000);
    writeTable(m, [{ addr: 0x10000, len: 16 * 4096, flags: INDIRECT }], TABLE);
    writeTable(
      m,
      Array.from({ length: 4096 }, (_, i) => ({ addr: 0x8000, len: 4096, flags: NEXT, next: i + 1 })),
      0x10000,
    );
    expect(() => readChain({ ...ctx(m), limits: { maxSegments: 1024, maxBytes: 4096, cost: 0 } }, 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-large' }) as Error);
  });
});
