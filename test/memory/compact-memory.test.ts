import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { LazyU32Array } from '../../src/memory/compact/lazy-array.js';
import { fillPattern, recognisePattern, PATTERN_MAGIC } from '../../src/memory/compact/page-pattern.js';
import { SparseMemory } from '../../src/memory/sparse-memory.js';
import { runs } from '../support/runs.js';

const PAGE = 4096;
const PAGES = 16;
const SEED = 99;

/** The bytes of a pattern page, via the public generator. */
function patternBytes(pfn: number, version: number, seed = SEED): Uint8Array {
  const words = new Uint32Array(PAGE / 4);
  fillPattern(words, { seed, pfn, version });
  return new Uint8Array(words.buffer);
}

type Op =
  | { kind: 'write'; gpa: number; bytes: number[] }
  | { kind: 'fill'; gpa: number; length: number; byte: number }
  | { kind: 'pattern'; pfn: number; version: number }
  | { kind: 'discard'; pfn: number; count: number }
  | { kind: 'u32'; gpa: number; value: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), gpa: fc.integer({ min: 0, max: PAGES * PAGE - 64 }), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 }) }),
  fc
    .record({ kind: fc.constant('fill' as const), gpa: fc.integer({ min: 0, max: PAGES * PAGE - 1 }), length: fc.integer({ min: 0, max: 3 * PAGE }), byte: fc.constantFrom(0, 0xaa, 7) })
    .filter((o) => o.gpa + o.length <= PAGES * PAGE),
  fc.record({ kind: fc.constant('pattern' as const), pfn: fc.integer({ min: 0, max: PAGES - 1 }), version: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant('discard' as const), pfn: fc.integer({ min: 0, max: PAGES - 2 }), count: fc.integer({ min: 1, max: 2 }) }),
  fc.record({ kind: fc.constant('u32' as const), gpa: fc.integer({ min: 0, max: PAGES * PAGE - 4 }), value: fc.integer({ min: 0, max: 0xffffffff }) }),
);

describe('CompactMemory', () => {
  it('reads exactly like a SparseMemory given the same writes, fills, patterns and discards', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const compact = new CompactMemory({ regions: PAGES * PAGE, patternSeed: SEED });
        const plain = new SparseMemory(PAGES * PAGE);
        for (const o of ops) {
          switch (o.kind) {
            case 'write':
              compact.write(o.gpa, Uint8Array.from(o.bytes));
              plain.write(o.gpa, Uint8Array.from(o.bytes));
              break;
            case 'fill':
              compact.fill(o.gpa, o.length, o.byte);
              plain.fill(o.gpa, o.length, o.byte);
              break;
            case 'pattern':
              compact.writePattern(o.pfn, o.version);
              plain.write(o.pfn * PAGE, patternBytes(o.pfn, o.version));
              break;
            case 'discard':
              compact.discard(o.pfn * PAGE, o.count * PAGE);
              plain.discard(o.pfn * PAGE, o.count * PAGE);
              break;
            case 'u32':
              compact.writeU32(o.gpa, o.value);
              plain.writeU32(o.gpa, o.value);
              break;
          }
        }
        expect(Buffer.compare(compact.read(0, PAGES * PAGE), plain.read(0, PAGES * PAGE))).toBe(0);
        for (let pfn = 0; pfn < PAGES; pfn++) expect(compact.isZeroPage(pfn)).toBe(plain.isZeroPage(pfn));
      }),
      { numRuns: runs(200) },
    );
  });

  it('keeps pattern and fill pages compact, and recognises a pattern page written back whole', () => {
    const m = new CompactMemory({ regions: PAGES * PAGE, patternSeed: SEED });
    m.writePattern(3, 9);
    m.fill(4 * PAGE, 2 * PAGE, 0xaa);
    expect(m.residentPages).toBe(0);
    expect(m.patternVersion(3)).toBe(9);

    m.write(5 * PAGE, patternBytes(5, 2)); // as a migration destination receives it
    expect(m.residentPages).toBe(0);
    expect(m.patternVersion(5)).toBe(2);

    m.write(6 * PAGE, patternBytes(7, 2)); // another page's pattern is just bytes here
    m.write(8 * PAGE, patternBytes(8, 2, SEED + 1)); // so is another guest's
    expect(m.residentPages).toBe(2);

    m.writeU8(3 * PAGE + 100, 0); // a byte write materialises the page
    expect(m.patternVersion(3)).toBeUndefined();
    expect(m.residentPages).toBe(3);
  });

  it('marks the dirty log for pattern writes and whole-page fills', () => {
    const m = new CompactMemory({ regions: PAGES * PAGE, patternSeed: SEED });
    m.dirtyLog.enable();
    m.writePattern(2, 1);
    m.fill(4 * PAGE + 10, PAGE * 2, 1);
    expect([0, 1, 2, 3, 4, 5, 6, 7].filter((p) => m.dirtyLog.isDirty(p))).toEqual([2, 4, 5, 6]);
  });

  it('describes a 1 TiB guest without allocating per page', () => {
    const m = new CompactMemory({ regions: 2 ** 40, patternSeed: 1 });
    m.writePattern(2 ** 28 - 1, 1);
    expect(m.isZeroPage(2 ** 27)).toBe(true);
    expect(m.readU32((2 ** 28 - 1) * PAGE)).toBe(PATTERN_MAGIC);
  });
});

describe('page patterns', () => {
  it('start with the magic, have no zero word after the header, differ by version, and are recognised', () => {
    fc.assert(
      fc.property(fc.nat(2 ** 28), fc.integer({ min: 1, max: 2 ** 30 }), fc.nat(), (pfn, version, seed) => {
        const page = patternBytes(pfn, version, seed);
        const words = new Uint32Array(page.buffer);
        expect(words[0]).toBe(PATTERN_MAGIC);
        expect(words.subarray(4).every((w) => w !== 0)).toBe(true);
        expect(recognisePattern(page)).toEqual({ pfn, version, seed });
        expect(Buffer.compare(page, patternBytes(pfn, version + 1, seed))).not.toBe(0);
        const corrupted = page.slice();
        corrupted[PAGE - 1]! ^= 1;
        expect(recognisePattern(corrupted)).toBeUndefined();
      }),
      { numRuns: runs(100) },
    );
  });
});

describe('LazyU32Array', () => {
  it('behaves like a plain array and visits non-zero entries in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(5000), fc.nat()), { maxLength: 50 }), (sets) => {
        const lazy = new LazyU32Array(5001);
        const plain = new Uint32Array(5001);
        for (const [i, v] of sets) {
          lazy.set(i, v);
          plain[i] = v;
        }
        const seen: Array<[number, number]> = [];
        lazy.forEachNonZero((i, v) => seen.push([i, v]));
        const expected = [...plain.entries()].filter(([, v]) => v !== 0);
        expect(seen).toEqual(expected);
        for (const [i] of sets) expect(lazy.get(i)).toBe(plain[i]);
      }),
      { numRuns: runs(100) },
    );
  });
});
