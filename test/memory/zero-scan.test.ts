import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { allocateScannable, isZeroRange } from '../../src/memory/zero-scan.js';
import { runs } from '../support/runs.js';

const REGION = 64 * 1024;
const region = allocateScannable(REGION)!;

/** The reference: every byte, one by one. */
function byteLoop(bytes: Uint8Array, offset: number, length: number): boolean {
  for (let i = offset; i < offset + length; i++) if (bytes[i] !== 0) return false;
  return true;
}

type Checker = (bytes: Uint8Array, offset: number, length: number) => boolean;

/**
 * Adversarial ranges: all zero, or zero but for a few bytes anywhere, with values that trip
 * word- and float-based shortcuts (0x80 alone is a float's sign bit: -0.0 == 0.0).
 */
function agreesWithByteLoop(check: Checker, bytes: Uint8Array) {
  return fc.property(
    fc.integer({ min: 0, max: 15 }).chain((pages) =>
      fc.record({
        offset: fc.oneof(fc.constant(pages * PAGE_SIZE), fc.integer({ min: 0, max: bytes.length - PAGE_SIZE - 1 })),
        length: fc.oneof(fc.constant(PAGE_SIZE), fc.integer({ min: 0, max: PAGE_SIZE })),
        dirt: fc.array(fc.record({ at: fc.nat(), value: fc.constantFrom(0x80, 0x01, 0xff, 0x7f, 0x40) }), { maxLength: 2 }),
      }),
    ),
    ({ offset, length, dirt }) => {
      bytes.fill(0);
      for (const d of dirt) if (length > 0) bytes[offset + (d.at % length)] = d.value;
      expect(check(bytes, offset, length), 'the zero check disagrees with a byte loop').toBe(byteLoop(bytes, offset, length));
    },
  );
}

describe('zero-page detection', () => {
  it('the WebAssembly SIMD kernel agrees with a byte loop on adversarial ranges', () => {
    expect(region).toBeDefined();
    fc.assert(
      agreesWithByteLoop((_bytes, offset, length) => region.isZero(offset, length), region.bytes),
      { numRuns: runs(2000) },
    );
  });

  it('the probe-and-word-loop fallback agrees with a byte loop on adversarial ranges', () => {
    fc.assert(agreesWithByteLoop(isZeroRange, new Uint8Array(REGION)), { numRuns: runs(2000) });
  });

  it('the property catches a kernel that reads pages as floats (a page of -0.0 is not zero)', () => {
    const asFloats: Checker = (bytes, offset, length) => {
      const floats = new Float64Array(bytes.buffer, bytes.byteOffset + offset - (offset % 8), Math.floor(length / 8));
      return floats.every((f) => f === 0);
    };
    const bytes = new Uint8Array(REGION);
    const result = fc.check(agreesWithByteLoop(asFloats, bytes), { numRuns: 2000, seed: 7 });
    expect(result.failed).toBe(true);
    expect(String(result.errorInstance)).toMatch(/the zero check disagrees with a byte loop/);
  });

  it('every page position, including the last byte of the last page of a region', () => {
    for (const at of [0, 1, 255, 256, PAGE_SIZE - 1]) {
      region.bytes.fill(0);
      region.bytes[REGION - PAGE_SIZE + at] = 0x80;
      expect(region.isZero(REGION - PAGE_SIZE, PAGE_SIZE)).toBe(false);
      expect(region.isZero(0, REGION - PAGE_SIZE)).toBe(true);
    }
    expect(() => region.isZero(REGION - PAGE_SIZE, PAGE_SIZE + 1)).toThrow(RangeError);
  });

  it('FlatMemory scans its large regions with the kernel', () => {
    const memory = new FlatMemory(16 << 20);
    const last = (16 << 20) / PAGE_SIZE - 1;
    expect(memory.isZeroPage(last)).toBe(true);
    memory.writeU8((last + 1) * PAGE_SIZE - 1, 0x80);
    expect(memory.isZeroPage(last)).toBe(false);
    expect(memory.isZeroPage(last - 1)).toBe(true);
  });
});
