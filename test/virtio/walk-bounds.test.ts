import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { DelegatingMemory, type MemoryAccess } from '../../src/memory/delegating-memory.js';
import { DESC_SIZE, DescFlag } from '../../src/virtio/constants.js';
import { readChain, type ChainContext, type ChainLimits, type DescriptorChain } from '../../src/virtio/descriptor-chain.js';
import { VirtioError } from '../../src/virtio/errors.js';
import { runs } from '../support/runs.js';

// The walk's bound, exactly: a chain walk reads no descriptor twice before it knows it met a
// loop, so it reads at most as many descriptors from a table as the table holds, at most
// maxSegments + 1 in all, and a loop through all Q entries of a table costs exactly Q reads.

const TABLE = 0x1000;
const INDIRECT_AT = 0x4000;
const RAM = 0x10000;

/** Counts the descriptors read from each table (a descriptor is read at its `addr` field). */
class DescriptorReads extends DelegatingMemory {
  readonly reads = new Map<string, number>();
  constructor(
    target: FlatMemory,
    private readonly tables: ReadonlyArray<readonly [name: string, at: number, entries: number]>,
  ) {
    super(target);
  }
  protected override touch(gpa: number, length: number, access: MemoryAccess): void {
    if (access !== 'read' || length !== 4) return;
    for (const [name, at, entries] of this.tables) {
      if (gpa >= at && gpa < at + entries * DESC_SIZE && (gpa - at) % DESC_SIZE === 0) this.reads.set(name, (this.reads.get(name) ?? 0) + 1);
    }
  }
  total(): number {
    return [...this.reads.values()].reduce((a, b) => a + b, 0);
  }
}

interface Walk {
  queueSize: number;
  entries: number;
  /** next and flags of each descriptor of the queue's table, then of the indirect table. */
  direct: Array<{ next: number; flags: number }>;
  indirect: Array<{ next: number; flags: number }>;
  maxSegments: number;
  head: number;
}

const links = (size: number, flags: fc.Arbitrary<number>) => fc.array(fc.record({ next: fc.oneof(fc.nat(size - 1), fc.constant(0)), flags }), { minLength: size, maxLength: size });

const walk: fc.Arbitrary<Walk> = fc
  .record({ queueSize: fc.constantFrom(1, 2, 4, 8, 16), entries: fc.integer({ min: 1, max: 16 }), maxSegments: fc.integer({ min: 1, max: 40 }) })
  .chain(({ queueSize, entries, maxSegments }) =>
    fc.record({
      queueSize: fc.constant(queueSize),
      entries: fc.constant(entries),
      maxSegments: fc.constant(maxSegments),
      // Mostly NEXT, so that long chains and loops are common; sometimes the table pointer.
      direct: links(queueSize, fc.oneof({ weight: 6, arbitrary: fc.constant(DescFlag.NEXT) }, { weight: 1, arbitrary: fc.constantFrom(0, DescFlag.INDIRECT) })),
      indirect: links(entries, fc.oneof({ weight: 6, arbitrary: fc.constant(DescFlag.NEXT) }, { weight: 1, arbitrary: fc.constant(0) })),
      head: fc.nat(queueSize - 1),
    }),
  );

function place(w: Walk): FlatMemory {
  const m = new FlatMemory(RAM);
  const write = (at: number, d: { next: number; flags: number }, indirect: boolean): void => {
    m.writeU32(at, indirect ? 0 : 0x8000);
    m.writeU32(at + 8, indirect ? w.entries * DESC_SIZE : 1);
    m.writeU16(at + 12, d.flags);
    m.writeU16(at + 14, d.next);
  };
  w.direct.forEach((d, i) => write(TABLE + i * DESC_SIZE, d, (d.flags & DescFlag.INDIRECT) !== 0));
  w.indirect.forEach((d, i) => write(INDIRECT_AT + i * DESC_SIZE, d, false));
  for (let i = 0; i < w.queueSize; i++) if (w.direct[i]!.flags & DescFlag.INDIRECT) m.writeU32(TABLE + i * DESC_SIZE, INDIRECT_AT);
  return m;
}

type Walker = (ctx: ChainContext, head: number) => DescriptorChain;

function boundHolds(walker: Walker): fc.IProperty<[Walk]> {
  return fc.property(walk, (w) => {
    const memory = new DescriptorReads(place(w), [
      ['queue', TABLE, w.queueSize],
      ['indirect', INDIRECT_AT, w.entries],
    ]);
    const limits: ChainLimits = { maxSegments: w.maxSegments, maxBytes: 1 << 20, cost: 0 };
    try {
      walker({ memory, descTable: TABLE, queueSize: w.queueSize, indirect: true, limits }, w.head);
    } catch (error) {
      if (!(error instanceof VirtioError)) throw error;
    }
    expect(memory.reads.get('queue') ?? 0, 'descriptors read from the queue table').toBeLessThanOrEqual(w.queueSize);
    expect(memory.reads.get('indirect') ?? 0, 'descriptors read from the indirect table').toBeLessThanOrEqual(w.entries);
    expect(memory.total(), 'descriptors read in all').toBeLessThanOrEqual(w.maxSegments + 1);
  });
}

/** A loop through every entry: 0 → 1 → … → Q-1 → 0. */
function ring(size: number): Array<{ next: number; flags: number }> {
  return Array.from({ length: size }, (_, i) => ({ next: (i + 1) % size, flags: DescFlag.NEXT }));
}

describe('the chain walk bound', () => {
  it('never reads more descriptors from a table than it holds, nor more than maxSegments + 1', () => {
    fc.assert(boundHolds(readChain), { numRuns: runs(2000) });
  });

  it('pays exactly Q reads for a loop through all Q entries of the queue table, and of an indirect table', () => {
    for (const q of [1, 2, 8, 16]) {
      const direct = new DescriptorReads(place({ queueSize: q, entries: 1, direct: ring(q), indirect: [{ next: 0, flags: 0 }], maxSegments: 64, head: 0 }), [['queue', TABLE, q]]);
      expect(() => readChain({ memory: direct, descTable: TABLE, queueSize: q, indirect: true }, 0)).toThrowError(
        expect.objectContaining({ kind: 'chain-too-long', message: expect.stringMatching(/a loop/) as string }) as Error,
      );
      expect(direct.total()).toBe(q);
      const table = [{ next: 0, flags: DescFlag.INDIRECT }];
      const inner = new DescriptorReads(place({ queueSize: 1, entries: q, direct: table, indirect: ring(q), maxSegments: 64, head: 0 }), [['indirect', INDIRECT_AT, q]]);
      expect(() => readChain({ memory: inner, descTable: TABLE, queueSize: 1, indirect: true }, 0)).toThrowError(expect.objectContaining({ kind: 'chain-too-long' }) as Error);
      expect(inner.total()).toBe(q);
    }
  });

  it('catches a walker that reads one descriptor past the table before calling it a loop', () => {
    // Broken: the walk is given one more descriptor than the queue holds (an off-by-one budget).
    const lenient: Walker = (ctx, head) => readChain({ ...ctx, queueSize: ctx.queueSize + 1 }, head);
    const result = fc.check(boundHolds(lenient), { numRuns: 2000, seed: 7 });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/descriptors read from the queue table/);
  });
});
