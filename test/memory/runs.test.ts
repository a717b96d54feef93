import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { LazyU32Array } from '../../src/memory/compact/lazy-array.js';
import { PageBitmap } from '../../src/memory/page-bitmap.js';
import { countPatternPages, zeroRunLength } from '../../src/memory/described-pages.js';
import type { PatternRun } from '../../src/memory/guest-memory.js';
import { runs } from '../support/runs.js';

// The fast run queries skip whole words and blocks; each is checked against a page-by-page loop.
/** PageBitmap against a Set of pages: counts, return values, has, nextSet and runs, across summary words and whole blocks. */
function bitmapProperty(make: (pages: number) => PageBitmap) {
  const pages = 5000; // 157 words: five summary words
  const range = { first: fc.nat(pages - 1), count: fc.integer({ min: 1, max: 2500 }) };
  const op = fc.oneof(
    fc.record({ kind: fc.constant('addRange' as const), ...range }),
    fc.record({ kind: fc.constant('deleteRange' as const), ...range }),
    fc.record({ kind: fc.constant('add' as const), first: fc.nat(pages - 1), count: fc.constant(1) }),
    fc.record({ kind: fc.constant('delete' as const), first: fc.nat(pages - 1), count: fc.constant(1) }),
    fc.record({ kind: fc.constant('word' as const), first: fc.nat(pages - 1), count: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ kind: fc.constant('subtract' as const), first: fc.nat(pages - 1), count: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ kind: fc.constant('clear' as const), first: fc.constant(0), count: fc.constant(0) }),
  );
  return fc.property(fc.array(op, { maxLength: 25 }), fc.array(fc.nat(pages + 40), { minLength: 1, maxLength: 8 }), (ops, froms) => {
    const bitmap = make(pages);
    const model = new Set<number>();
    const wordPages = (first: number, word: number): number[] => Array.from({ length: 32 }, (_, b) => (first >>> 5) * 32 + b).filter((p, b) => ((word >>> b) & 1) === 1 && p < pages);
    for (const o of ops) {
      const end = Math.min(o.first + o.count, pages);
      const before = model.size;
      if (o.kind === 'addRange' || o.kind === 'add') {
        const added = o.kind === 'add' ? Number(bitmap.add(o.first)) : bitmap.addRange(o.first, o.count);
        for (let p = o.first; p < end; p++) model.add(p);
        expect(added, 'pages an add says it added').toBe(model.size - before);
      } else if (o.kind === 'deleteRange' || o.kind === 'delete') {
        const removed = o.kind === 'delete' ? Number(bitmap.delete(o.first)) : bitmap.deleteRange(o.first, o.count);
        for (let p = o.first; p < end; p++) model.delete(p);
        expect(removed, 'pages a delete says it removed').toBe(before - model.size);
      } else if (o.kind === 'word' || o.kind === 'subtract') {
        const word = o.count & (o.first >>> 5 === (pages - 1) >>> 5 ? (1 << (pages % 32)) - 1 : -1);
        if (o.kind === 'word') bitmap.addWord(o.first >>> 5, word);
        else bitmap.subtractWords(Object.assign(new Uint32Array(Math.ceil(pages / 32)), { [o.first >>> 5]: word }));
        for (const p of wordPages(o.first, word)) {
          if (o.kind === 'word') model.add(p);
          else model.delete(p);
        }
      } else {
        bitmap.clear();
        model.clear();
      }
      expect(bitmap.count, 'pages the bitmap counts').toBe(model.size);
      for (const p of [0, 1023, 1024, 2047, 2048, pages - 1]) expect(bitmap.has(p), `whether the bitmap has page ${p}`).toBe(model.has(p));
      for (const from of froms) {
        let expected = from;
        while (expected < pages && !model.has(expected)) expected++;
        expect(bitmap.nextSet(from)).toBe(expected < pages ? expected : -1);
      }
    }
    const sorted = [...model].sort((a, b) => a - b);
    const expectedRuns: Array<[number, number]> = [];
    for (const p of sorted) {
      const last = expectedRuns[expectedRuns.length - 1];
      if (last && last[0] + last[1] === p) last[1]++;
      else expectedRuns.push([p, 1]);
    }
    expect(bitmap.runs()).toEqual(expectedRuns);
  });
}

/** Ignores a single page deleted from a block that is full: what a bitmap that never opens its full blocks does. */
class FullBlockKeepsDeletes extends PageBitmap {
  override delete(pfn: number): boolean {
    const first = pfn - (pfn % 1024);
    let full = true;
    for (let p = first; p < Math.min(first + 1024, this.pageCount) && full; p++) full = this.has(p);
    return full ? false : super.delete(pfn);
  }
}

/** LazyU32Array.fillRange and clearRange against a plain array: the entries, and each non-zero entry reported once. */
function fillProperty(make: (length: number) => LazyU32Array) {
  const op = fc.record({ first: fc.nat(4999), count: fc.nat(3000), value: fc.oneof(fc.constant(0), fc.nat(3)), clear: fc.boolean() });
  return fc.property(fc.array(fc.tuple(fc.nat(4999), fc.nat(3))), fc.array(op, { maxLength: 6 }), (sets, ops) => {
    const array = make(5000);
    const model = new Array<number>(5000).fill(0);
    for (const [i, v] of sets) {
      array.set(i, v);
      model[i] = v;
    }
    for (const { first, count, value, clear } of ops) {
      const seen: Array<[number, number]> = [];
      if (clear) array.clearRange(first, count, (i, v) => seen.push([i, v]));
      else array.fillRange(first, count, value, (i, v) => seen.push([i, v]));
      const expected: Array<[number, number]> = [];
      for (let i = first; i < Math.min(first + count, 5000); i++) {
        if (model[i] !== 0) expected.push([i, model[i]!]);
        model[i] = clear ? 0 : value;
      }
      expect(seen, 'the entries a fill or clear reports replacing').toEqual(expected);
      expect(
        Array.from({ length: 5000 }, (_, i) => array.get(i)),
        'the entries after a fill or clear',
      ).toEqual(model);
      expect(array.zeroRun(0, 5000)).toBe(model.findIndex((v) => v !== 0) === -1 ? 5000 : model.findIndex((v) => v !== 0));
    }
  });
}

/** Does not report an entry it replaces at the start of a storage block. */
class SkipsBlockStarts extends LazyU32Array {
  override fillRange(first: number, count: number, value: number, fn: (index: number, old: number) => void): void {
    super.fillRange(first, count, value, (i, old) => {
      if (i % 1024 !== 0) fn(i, old);
    });
  }
}

describe('run queries', () => {
  it('PageBitmap.nextClear finds the first page not in the set, within the limit', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.tuple(fc.nat(300), fc.nat(80))), fc.nat(320), fc.nat(400), (pages, ranges, from, limit) => {
        const bitmap = new PageBitmap(pages);
        for (const [first, count] of ranges) bitmap.addRange(first, count);
        const bound = Math.min(limit, pages);
        let expected = Math.min(from, bound);
        while (expected < bound && bitmap.has(expected)) expected++;
        expect(bitmap.nextClear(from, limit)).toBe(expected);
      }),
      { numRuns: runs(500) },
    );
  });

  it('PageBitmap range and word operations agree with a set of pages, counts included', () => {
    const rangeFields = { first: fc.integer({ min: -40, max: 300 }), count: fc.nat(200) };
    const wordFields = { words: fc.uint32Array({ maxLength: 10 }) };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('addRange' as const), ...rangeFields }),
      fc.record({ kind: fc.constant('deleteRange' as const), ...rangeFields }),
      fc.record({ kind: fc.constant('merge' as const), ...wordFields }),
      fc.record({ kind: fc.constant('subtract' as const), ...wordFields }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(op, { maxLength: 20 }), (pages, ops) => {
        const bitmap = new PageBitmap(pages);
        const model = new Set<number>();
        /** `a` as a dirty log of the same size: as many words, no bit past the last page. */
        const asLog = (a: Uint32Array): Uint32Array => {
          const words = new Uint32Array(Math.ceil(pages / 32));
          words.set(a.subarray(0, words.length));
          if (pages % 32 !== 0) words[words.length - 1]! &= (1 << (pages % 32)) - 1;
          return words;
        };
        const pagesOf = (words: Uint32Array): number[] => {
          const out: number[] = [];
          words.forEach((w, i) => {
            for (let b = 0; b < 32; b++) if ((w >>> b) & 1) out.push(32 * i + b);
          });
          return out;
        };
        for (const o of ops) {
          if (o.kind === 'addRange' || o.kind === 'deleteRange') {
            let changed = 0;
            for (let p = Math.max(0, o.first); p < Math.min(o.first + o.count, pages); p++) {
              if (o.kind === 'addRange' ? !model.has(p) : model.has(p)) changed++;
              if (o.kind === 'addRange') model.add(p);
              else model.delete(p);
            }
            expect(bitmap[o.kind](o.first, o.count)).toBe(changed);
          } else if (o.kind === 'merge') {
            const words = asLog(o.words);
            const incoming = pagesOf(words);
            const added = incoming.filter((p) => !model.has(p)).length;
            for (const p of incoming) model.add(p);
            let got = 0;
            words.forEach((w, i) => (got += bitmap.addWord(i, w)));
            expect(got).toBe(added);
          } else {
            const words = asLog(o.words);
            for (const p of pagesOf(words)) model.delete(p);
            bitmap.subtractWords(words);
          }
        }
        expect(bitmap.count).toBe(model.size);
        for (let p = 0; p < pages; p++) expect(bitmap.has(p)).toBe(model.has(p));
      }),
      { numRuns: runs(300) },
    );
  });

  it('PageBitmap.nextSet, runs and counts agree with a set of pages across summary words and whole blocks, whatever changed the set', () => {
    fc.assert(
      bitmapProperty((pages) => new PageBitmap(pages)),
      { numRuns: runs(300) },
    );
  });

  it('the bitmap property catches a full block that keeps a page deleted from it', () => {
    const result = fc.check(
      bitmapProperty((pages) => new FullBlockKeepsDeletes(pages)),
      { numRuns: 500, seed: 52, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/pages a delete says it removed/);
  });

  it('PageBitmap.runs lists the set as maximal ascending runs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.tuple(fc.nat(300), fc.nat(80))), (pages, ranges) => {
        const bitmap = new PageBitmap(pages);
        for (const [first, count] of ranges) bitmap.addRange(first, count);
        const expected: Array<[number, number]> = [];
        for (let p = 0; p < pages; p++) {
          if (!bitmap.has(p)) continue;
          const last = expected[expected.length - 1];
          if (last && last[0] + last[1] === p) last[1]++;
          else expected.push([p, 1]);
        }
        expect(bitmap.runs()).toEqual(expected);
      }),
      { numRuns: runs(500) },
    );
  });

  it('LazyU32Array.zeroRun counts zero entries across allocated and unallocated blocks', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(5000), fc.nat(3))), fc.nat(5200), fc.nat(5000), (sets, index, max) => {
        const array = new LazyU32Array(5000);
        for (const [i, v] of sets) array.set(i, v);
        let expected = 0;
        while (expected < max && index + expected < 5000 && array.get(index + expected) === 0) expected++;
        expect(array.zeroRun(index, max)).toBe(expected);
      }),
      { numRuns: runs(500) },
    );
  });

  it('LazyU32Array.fillRange and clearRange set exactly the range and report each non-zero entry they replace once', () => {
    fc.assert(
      fillProperty((length) => new LazyU32Array(length)),
      { numRuns: runs(300) },
    );
  });

  it('the fill property catches an array that misses entries at a block start', () => {
    const result = fc.check(
      fillProperty((length) => new SkipsBlockStarts(length)),
      { numRuns: 500, seed: 53, endOnFailure: true },
    );
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/the entries a fill or clear reports replacing/);
  });

  it('zeroRunLength agrees with isZeroPage page by page, whatever the pages hold', () => {
    const pages = 3000;
    fc.assert(
      fc.property(
        fc.array(fc.record({ pfn: fc.nat(pages - 1), how: fc.constantFrom('pattern', 'fill', 'zero-fill', 'byte', 'zero-bytes', 'discard', 'discard-many') })),
        fc.nat(pages - 1),
        fc.nat(pages),
        (writes, pfn, max) => {
          const memory = new CompactMemory({ regions: pages * PAGE_SIZE, patternSeed: 1 });
          for (const w of writes) {
            const gpa = w.pfn * PAGE_SIZE;
            if (w.how === 'pattern') memory.writePattern(w.pfn, 3);
            else if (w.how === 'fill') memory.fill(gpa, PAGE_SIZE, 0xaa);
            else if (w.how === 'zero-fill') memory.fill(gpa, PAGE_SIZE, 0);
            else if (w.how === 'byte') memory.writeU8(gpa + 100, 1);
            else if (w.how === 'zero-bytes')
              memory.writeU8(gpa + 100, 0); // real bytes, all zero
            else if (w.how === 'discard') memory.discard(gpa, PAGE_SIZE);
            else memory.discard(0, Math.max(1, w.pfn) * PAGE_SIZE); // whole descriptor blocks
          }
          const limit = Math.min(max, pages - pfn);
          let expected = 0;
          while (expected < limit && memory.isZeroPage(pfn + expected)) expected++;
          expect(zeroRunLength(memory, pfn, limit)).toBe(expected);
        },
      ),
      { numRuns: runs(300) },
    );
  });

  it('CompactMemory.patternRuns stops at its limit and at the end of the run, across descriptor blocks, one run per version', () => {
    const memory = new CompactMemory({ regions: 4096 * PAGE_SIZE, patternSeed: 1 });
    // pages 1000–2099, across the block boundary at 1024: 20 of version 7, 1060 of version 8, 20 of version 7
    memory.writePatternRun(1000, { count: 20, version: 7 });
    memory.writePatternRun(1020, { count: 1060, version: 8 });
    memory.writePatternRun(2080, { count: 20, version: 7 });
    const cases: Array<[number, PatternRun[]]> = [
      [10, [{ count: 10, version: 7 }]],
      [
        500,
        [
          { count: 20, version: 7 },
          { count: 480, version: 8 },
        ],
      ],
      [
        1090,
        [
          { count: 20, version: 7 },
          { count: 1060, version: 8 },
          { count: 10, version: 7 },
        ],
      ],
      [
        3000,
        [
          { count: 20, version: 7 },
          { count: 1060, version: 8 },
          { count: 20, version: 7 },
        ],
      ],
    ];
    for (const [max, expected] of cases) {
      const got: PatternRun[] = [];
      expect(memory.patternRuns(1000, max, got)).toBe(countPatternPages(expected));
      expect(got).toEqual(expected);
    }
    expect(memory.patternRuns(2100, 10, [])).toBe(0);
  });

  it('CompactMemory.patternRuns and writePatternRun agree with their page-by-page twins, bytes pages included', () => {
    const pages = 3000;
    const kinds = ['pattern', 'run', 'fill', 'byte', 'discard'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.record({ pfn: fc.nat(pages - 1), count: fc.integer({ min: 1, max: 1500 }), version: fc.nat(1000), how: fc.constantFrom(...kinds) })),
        fc.nat(pages - 1),
        fc.nat(pages),
        (writes, pfn, max) => {
          const bulk = new CompactMemory({ regions: pages * PAGE_SIZE, patternSeed: 1 });
          const single = new CompactMemory({ regions: pages * PAGE_SIZE, patternSeed: 1 });
          for (const w of writes) {
            const count = Math.min(w.count, pages - w.pfn);
            for (const memory of [bulk, single]) {
              const gpa = w.pfn * PAGE_SIZE;
              if (w.how === 'pattern') memory.writePattern(w.pfn, w.version);
              else if (w.how === 'fill') memory.fill(gpa, count * PAGE_SIZE, 0xaa);
              else if (w.how === 'byte')
                memory.writeU8(gpa + 100, 1); // a BYTES page, cached
              else if (w.how === 'discard') memory.discard(gpa, count * PAGE_SIZE);
            }
            if (w.how === 'run') {
              bulk.writePatternRun(w.pfn, { count, version: w.version });
              for (let i = 0; i < count; i++) single.writePattern(w.pfn + i, w.version);
            }
          }
          // Same description per page; where there is none (real bytes), the same bytes.
          const summary = (m: CompactMemory): string[] =>
            Array.from(
              { length: pages },
              (_, p) => `${m.patternVersion(p)} ${m.fillByte(p)} ${m.patternVersion(p) === undefined && m.fillByte(p) === undefined ? Buffer.from(m.read(p * PAGE_SIZE, PAGE_SIZE)).toString('base64') : ''}`,
            );
          expect(summary(bulk)).toEqual(summary(single));
          const limit = Math.min(max, pages - pfn);
          const expected: number[] = [];
          while (expected.length < limit && single.patternVersion(pfn + expected.length) !== undefined) expected.push(single.patternVersion(pfn + expected.length)!);
          const got: PatternRun[] = [];
          expect(bulk.patternRuns(pfn, limit, got)).toBe(expected.length);
          // Runs in order, each of one version and at least one page, no two neighbours alike: the pages' versions.
          expect(got.flatMap((run) => Array<number>(run.count).fill(run.version))).toEqual(expected);
          got.forEach((run, i) => {
            expect(run.count).toBeGreaterThan(0);
            expect(run.version).not.toBe(got[i - 1]?.version);
          });
        },
      ),
      { numRuns: runs(100) },
    );
  });
});
