import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { popcount32 } from '../../src/memory/bits.js';
import { CompactMemory } from '../../src/memory/compact/compact-memory.js';
import { DirtyLog } from '../../src/memory/dirty-log.js';
import { MemoryError } from '../../src/memory/errors.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory, RamRegion } from '../../src/memory/guest-memory.js';
import { SparseMemory } from '../../src/memory/sparse-memory.js';
import { runs } from '../support/runs.js';

const PAGE = 4096;

/** The reference: one byte per address in a Map, little-endian done by hand. */
class ModelMemory {
  readonly bytes = new Map<number, number>();
  constructor(readonly regions: readonly RamRegion[]) {}
  inRam(gpa: number, length: number): boolean {
    if (!Number.isSafeInteger(gpa) || !Number.isSafeInteger(length) || gpa < 0 || length < 0) return false;
    for (let a = gpa; a < gpa + length; a++) if (!this.regions.some((r) => a >= r.gpa && a < r.gpa + r.size)) return false;
    return true;
  }
  get(a: number): number {
    return this.bytes.get(a) ?? 0;
  }
  set(a: number, v: number): void {
    this.bytes.set(a, v & 0xff);
  }
}

/** Layouts with holes and regions at non-zero addresses (sizes in pages, kept small). */
const layout: fc.Arbitrary<RamRegion[]> = fc.array(fc.record({ gap: fc.integer({ min: 0, max: 2 }), pages: fc.integer({ min: 1, max: 3 }) }), { minLength: 1, maxLength: 3 }).map((pieces) => {
  const out: RamRegion[] = [];
  let at = 0;
  for (const p of pieces) {
    at += p.gap * PAGE;
    out.push({ gpa: at, size: p.pages * PAGE });
    at += p.pages * PAGE;
  }
  return out;
});

type Op =
  | { kind: 'write'; gpa: number; data: number[] }
  | { kind: 'fill'; gpa: number; length: number; byte: number }
  | { kind: 'scalar'; gpa: number; size: 1 | 2 | 4 | 8; value: number }
  | { kind: 'discard'; page: number; pages: number }
  | { kind: 'read'; gpa: number; length: number }
  | { kind: 'readScalar'; gpa: number; size: 1 | 2 | 4 | 8 };

// Addresses around region edges, holes and the end, plus invalid ones.
const address = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 10 * PAGE }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 0.5, Number.NaN, 2 ** 60) });
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('write' as const), gpa: address, data: fc.array(fc.nat(255), { maxLength: 40 }) }),
  fc.record({ kind: fc.constant('fill' as const), gpa: address, length: fc.integer({ min: 0, max: 2 * PAGE }), byte: fc.nat(255) }),
  fc.record({ kind: fc.constant('scalar' as const), gpa: address, size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), value: fc.oneof(fc.nat(), fc.maxSafeNat()) }),
  fc.record({ kind: fc.constant('discard' as const), page: fc.nat(10), pages: fc.integer({ min: 1, max: 2 }) }),
  fc.record({ kind: fc.constant('read' as const), gpa: address, length: fc.integer({ min: 0, max: 64 }) }),
  fc.record({ kind: fc.constant('readScalar' as const), gpa: address, size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const) }),
);

function leBytes(value: number, size: number): number[] {
  const out: number[] = [];
  let v = value;
  for (let i = 0; i < size; i++) {
    out.push(v % 256);
    v = Math.floor(v / 256);
  }
  return out;
}

/** Apply `o` to memory and model; both must agree on success, failure and results. */
function apply(memory: GuestMemory, model: ModelMemory, o: Op): void {
  const attempt = <T>(fn: () => T): T | MemoryError => {
    try {
      return fn();
    } catch (e) {
      expect(e).toBeInstanceOf(MemoryError);
      return e as MemoryError;
    }
  };
  switch (o.kind) {
    case 'write': {
      const r = attempt(() => memory.write(o.gpa, Uint8Array.from(o.data)));
      expect(r instanceof MemoryError).toBe(!model.inRam(o.gpa, o.data.length));
      if (!(r instanceof MemoryError)) o.data.forEach((b, i) => model.set(o.gpa + i, b));
      break;
    }
    case 'fill': {
      const r = attempt(() => memory.fill(o.gpa, o.length, o.byte));
      expect(r instanceof MemoryError).toBe(!model.inRam(o.gpa, o.length));
      if (!(r instanceof MemoryError)) for (let i = 0; i < o.length; i++) model.set(o.gpa + i, o.byte);
      break;
    }
    case 'scalar': {
      const value = o.size === 8 ? o.value : o.value % 2 ** (8 * o.size);
      const r = attempt(() => {
        if (o.size === 1) memory.writeU8(o.gpa, value);
        else if (o.size === 2) memory.writeU16(o.gpa, value);
        else if (o.size === 4) memory.writeU32(o.gpa, value);
        else memory.writeU64(o.gpa, value);
      });
      expect(r instanceof MemoryError).toBe(!model.inRam(o.gpa, o.size));
      if (!(r instanceof MemoryError)) leBytes(value, o.size).forEach((b, i) => model.set(o.gpa + i, b));
      break;
    }
    case 'discard': {
      const gpa = o.page * PAGE;
      const r = attempt(() => memory.discard(gpa, o.pages * PAGE));
      expect(r instanceof MemoryError).toBe(!model.inRam(gpa, o.pages * PAGE));
      if (!(r instanceof MemoryError)) for (let i = 0; i < o.pages * PAGE; i++) model.bytes.delete(gpa + i);
      break;
    }
    case 'read': {
      const r = attempt(() => memory.read(o.gpa, o.length));
      expect(r instanceof MemoryError).toBe(!model.inRam(o.gpa, o.length));
      if (!(r instanceof MemoryError)) expect([...r], 'a read returns other bytes than were written').toEqual(Array.from({ length: o.length }, (_, i) => model.get(o.gpa + i)));
      break;
    }
    case 'readScalar': {
      const r = attempt(() => [memory.readU8, memory.readU16, memory.readU32, memory.readU64][[1, 2, 4, 8].indexOf(o.size)]!.call(memory, o.gpa));
      const inRam = model.inRam(o.gpa, o.size);
      let expected = 0;
      if (inRam) for (let i = o.size - 1; i >= 0; i--) expected = expected * 256 + model.get(o.gpa + i);
      if (!inRam) expect(r).toBeInstanceOf(MemoryError);
      else if (expected > Number.MAX_SAFE_INTEGER) expect((r as MemoryError).kind, 'a scalar read returns other bytes than were written').toBe('u64-unsafe');
      else expect(r, 'a scalar read returns other bytes than were written').toBe(expected);
      break;
    }
  }
}

/**
 * Two pages of RAM and accesses that stay in them: every scalar and small write lands on a page
 * that a recent write cached, and whole-page fills and discards change how it is stored.
 */
function recentPagesProperty(make: (regions: RamRegion[]) => GuestMemory): fc.IPropertyWithHooks<[Op[]]> {
  const inTwoPages = fc.integer({ min: 0, max: 2 * PAGE - 8 });
  const focused: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('scalar' as const), gpa: inTwoPages, size: fc.constantFrom(1 as const, 2 as const, 4 as const), value: fc.nat() }),
    fc.record({ kind: fc.constant('readScalar' as const), gpa: inTwoPages, size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const) }),
    fc.record({ kind: fc.constant('write' as const), gpa: inTwoPages, data: fc.array(fc.nat(255), { maxLength: 8 }) }),
    fc.record({ kind: fc.constant('fill' as const), gpa: fc.constantFrom(0, PAGE), length: fc.constantFrom(PAGE, 2 * PAGE), byte: fc.nat(255) }),
    fc.record({ kind: fc.constant('discard' as const), page: fc.nat(1), pages: fc.constant(1) }),
  );
  return fc.property(fc.array(focused, { minLength: 3, maxLength: 30 }), (ops) => {
    const regions = [{ gpa: 0, size: 2 * PAGE }];
    const memory = make(regions);
    const model = new ModelMemory(regions);
    for (const o of ops) apply(memory, model, o);
  });
}

/** Keeps a page cached after its bytes were dropped for a fill or pattern: reads the old store. */
class CompactKeepsDroppedPages extends CompactMemory {
  protected override forgetPage(): void {}
}

/** Discards without flushing the page cache: a cached page still reads its freed store. */
class SparseDiscardKeepsCache extends SparseMemory {
  override discard(gpa: number, length: number): void {
    this.discardRange(gpa, length);
  }
}

describe('the page cache property', () => {
  it('catches a store that keeps a page cached after the page moved', () => {
    const twins: Array<[string, (regions: RamRegion[]) => GuestMemory]> = [
      ['CompactMemory that does not forget dropped pages', (regions) => new CompactKeepsDroppedPages({ regions, patternSeed: 1 })],
      ['SparseMemory whose discard keeps the cache', (regions) => new SparseDiscardKeepsCache(regions)],
    ];
    for (const [name, make] of twins) {
      const result = fc.check(recentPagesProperty(make), { numRuns: 500, seed: 54, endOnFailure: true });
      expect(result.failed, name).toBe(true);
      expect(String(result.errorInstance), name).toMatch(/a scalar read returns other bytes than were written/);
    }
  });
});

describe.each([
  ['FlatMemory', (regions: RamRegion[]) => new FlatMemory(regions)],
  ['SparseMemory', (regions: RamRegion[]) => new SparseMemory(regions)],
  ['CompactMemory', (regions: RamRegion[]) => new CompactMemory({ regions, patternSeed: 1 })],
])('%s', (_name, make) => {
  it('agrees with a byte-map model on every access, and a refused access changes nothing', () => {
    fc.assert(
      fc.property(layout, fc.array(op, { maxLength: 30 }), (regions, ops) => {
        const memory = make(regions);
        const model = new ModelMemory(regions);
        for (const o of ops) apply(memory, model, o);
        for (const r of regions) {
          const bytes = memory.read(r.gpa, r.size);
          for (let i = 0; i < r.size; i += 97) expect(bytes[i]).toBe(model.get(r.gpa + i));
        }
      }),
      { numRuns: runs(200) },
    );
  });

  it('a page that was written and then filled whole, discarded or rewritten reads what the model says, at every width', () => {
    fc.assert(recentPagesProperty(make), { numRuns: runs(200) });
  });

  it('marks exactly the pages each write touches, once logging is on, and never for discards', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ gpa: fc.nat(8 * PAGE - 1), length: fc.integer({ min: 1, max: 3 * PAGE }) }), { maxLength: 10 }), (writes) => {
        const memory = make([{ gpa: 0, size: 12 * PAGE }]);
        memory.write(0, new Uint8Array(10));
        expect(memory.dirtyLog.count()).toBe(0);
        memory.dirtyLog.enable();
        const expected = new Set<number>();
        for (const w of writes) {
          memory.fill(w.gpa, w.length, 1);
          for (let p = Math.floor(w.gpa / PAGE); p <= Math.floor((w.gpa + w.length - 1) / PAGE); p++) expected.add(p);
        }
        memory.discard(11 * PAGE, PAGE);
        for (let p = 0; p < 12; p++) expect(memory.dirtyLog.isDirty(p)).toBe(expected.has(p));
        expect(memory.dirtyLog.count()).toBe(expected.size);
        expect(memory.dirtyLog.takeWord(0)).toBe([...expected].reduce((w, p) => w + 2 ** p, 0));
        expect(memory.dirtyLog.count()).toBe(0);
      }),
      { numRuns: runs(200) },
    );
  });

  it('refuses region lists that are unaligned, overlapping, unsorted or empty', () => {
    for (const bad of [
      [{ gpa: 1, size: PAGE }],
      [{ gpa: 0, size: 100 }],
      [
        { gpa: 0, size: 2 * PAGE },
        { gpa: PAGE, size: PAGE },
      ],
      [
        { gpa: 2 * PAGE, size: PAGE },
        { gpa: 0, size: PAGE },
      ],
      [],
    ]) {
      expect(() => make(bad)).toThrowError(MemoryError);
    }
  });
});

describe('the dirty log', () => {
  it('sets exactly [first, last] across word boundaries', () => {
    fc.assert(
      fc.property(fc.nat(300), fc.nat(300), (a, b) => {
        const [first, last] = a <= b ? [a, b] : [b, a];
        const log = new DirtyLog(320);
        log.enable();
        log.markRange(first, last);
        for (let p = 0; p < 320; p++) expect(log.isDirty(p)).toBe(p >= first && p <= last);
        expect(log.count()).toBe(last - first + 1);
      }),
      { numRuns: runs(300) },
    );
  });

  it('counts bits like a bit loop', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (x) => {
        let n = 0;
        for (let i = 0; i < 32; i++) n += Math.floor(x / 2 ** i) % 2;
        expect(popcount32(x)).toBe(n);
      }),
      { numRuns: runs(1000) },
    );
  });

  it('drain hands over exactly the non-zero words, in order, once, whatever marked them (a word-scan twin)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('mark' as const), pfn: fc.nat(4999) }),
      fc.record({ kind: fc.constant('range' as const), pfn: fc.nat(4999), count: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ kind: fc.constant('take' as const), pfn: fc.nat(4999) }),
      fc.record({ kind: fc.constant('drain' as const) }),
      fc.record({ kind: fc.constant('disable' as const) }),
      fc.record({ kind: fc.constant('enable' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const log = new DirtyLog(5000);
        log.enable();
        let model = new Set<number>();
        let enabled = true;
        for (const o of [...ops, { kind: 'drain' as const }]) {
          if (o.kind === 'mark') {
            log.mark(o.pfn);
            if (enabled) model.add(o.pfn);
          } else if (o.kind === 'range') {
            const last = Math.min(o.pfn + o.count, 5000) - 1;
            log.markRange(o.pfn, last);
            for (let p = o.pfn; enabled && p <= last; p++) model.add(p);
          } else if (o.kind === 'take') {
            const w = o.pfn >>> 5;
            let expected = 0;
            for (let b = 0; b < 32; b++) if (model.delete(w * 32 + b)) expected += 2 ** b;
            expect(log.takeWord(w)).toBe(expected);
          } else if (o.kind === 'drain') {
            const got: Array<[number, number]> = [];
            log.drain((w, word) => got.push([w, word]));
            const expected = new Map<number, number>();
            for (const p of model) expected.set(p >>> 5, (expected.get(p >>> 5) ?? 0) + 2 ** (p & 31));
            expect(got).toEqual([...expected].sort((a, b) => a[0] - b[0]));
            model = new Set();
          } else if (o.kind === 'disable') {
            log.disable();
            enabled = false;
            model = new Set();
          } else {
            log.enable();
            enabled = true;
          }
          expect(log.count()).toBe(model.size);
        }
        expect(log.words.every((w) => w === 0)).toBe(true);
      }),
      { numRuns: runs(300) },
    );
  });

  it('forgets everything when disabled', () => {
    const log = new DirtyLog(64);
    log.enable();
    log.mark(3);
    log.disable();
    log.mark(4);
    expect(log.count()).toBe(0);
  });
});

describe('big and borrowed memories', () => {
  it('a 1 TiB SparseMemory costs only what is written', () => {
    const m = new SparseMemory(2 ** 40);
    m.writeU32(2 ** 40 - 4, 0xdeadbeef);
    expect(m.readU32(2 ** 40 - 4)).toBe(0xdeadbeef);
    expect(m.readU32(2 ** 39)).toBe(0);
    expect(m.residentPages).toBe(1);
  });

  it('a FlatMemory over a caller buffer writes into that buffer', () => {
    const buffer = new ArrayBuffer(3 * PAGE);
    const m = new FlatMemory([{ gpa: 0x100000, size: 2 * PAGE, buffer, bufferOffset: PAGE }]);
    m.writeU32(0x100000, 0x01020304);
    expect(new DataView(buffer).getUint32(PAGE, true)).toBe(0x01020304);
  });

  it('isZeroPage sees a single non-zero byte anywhere', () => {
    fc.assert(
      fc.property(fc.nat(PAGE - 1), fc.integer({ min: 1, max: 255 }), (at, byte) => {
        for (const m of [new FlatMemory(2 * PAGE), new SparseMemory(2 * PAGE)]) {
          expect(m.isZeroPage(1)).toBe(true);
          m.writeU8(PAGE + at, byte);
          expect(m.isZeroPage(1)).toBe(false);
          expect(m.isZeroPage(0)).toBe(true);
        }
      }),
      { numRuns: runs(200) },
    );
  });
});
