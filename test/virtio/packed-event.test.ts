import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PackedDescFlag } from '../../src/virtio/constants.js';
import { availBits, isAvailable, isUsed, offWrap, packedNeedsEvent, packedRingSizes, usedBits } from '../../src/virtio/packed-ring.js';
import { runs } from '../support/runs.js';

/**
 * The rule spelt out: walk back `advanced` positions from (slot, wrap), a position at a time,
 * flipping the wrap counter when passing slot 0, and see whether the named one is among them.
 */
function spelledOut(off: number, eventWrap: number, slot: number, wrap: number, advanced: number, size: number): boolean {
  let s = slot;
  let w = wrap;
  for (let k = 0; k < advanced; k++) {
    s--;
    if (s < 0) {
      s = size - 1;
      w ^= 1;
    }
    if (s === off && w === eventWrap) return true;
  }
  return false;
}

describe('packed ring flags and events (§2.8.1, §2.8.10)', () => {
  it('marks available and used descriptors by the wrap counter of their lap', () => {
    expect([availBits(1), availBits(0), usedBits(1), usedBits(0)]).toEqual([PackedDescFlag.AVAIL, PackedDescFlag.USED, PackedDescFlag.AVAIL | PackedDescFlag.USED, 0]);
    for (const wrap of [0, 1]) {
      // Other flag bits do not matter; the two bits decide, and only for their own lap.
      expect(isAvailable(availBits(wrap) | 0x7f7f, wrap)).toBe(true);
      expect(isAvailable(availBits(wrap ^ 1), wrap)).toBe(false);
      expect(isAvailable(usedBits(wrap), wrap)).toBe(false);
      expect(isUsed(usedBits(wrap) | 0x7f7f, wrap)).toBe(true);
      expect(isUsed(usedBits(wrap ^ 1), wrap)).toBe(false);
      expect(isUsed(availBits(wrap), wrap)).toBe(false);
    }
    expect([offWrap(5, 1), offWrap(5, 0)]).toEqual([0x8005, 5]);
    expect(packedRingSizes(5)).toEqual({ desc: 80, driver: 4, device: 4 });
  });

  it('asks for a notification exactly when the named descriptor was among those just advanced over', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((size) => fc.tuple(fc.constant(size), fc.nat(size - 1), fc.nat(1), fc.nat(size - 1), fc.nat(1), fc.integer({ min: 0, max: size }))),
        ([size, off, eventWrap, slot, wrap, advanced]) => {
          expect(packedNeedsEvent(offWrap(off, eventWrap), slot, wrap, advanced, size)).toBe(spelledOut(off, eventWrap, slot, wrap, advanced, size));
        },
      ),
      { numRuns: runs(3000) },
    );
  });

  it('around the end of the ring and at the edges of the window', () => {
    // Ring of 4 at slot 1 of lap 0, after 3: slots 2, 3 of lap 1 and 0 of lap 0.
    expect([0, 1, 2, 3].map((off) => packedNeedsEvent(offWrap(off, 1), 1, 0, 3, 4))).toEqual([false, false, true, true]);
    expect([0, 1, 2, 3].map((off) => packedNeedsEvent(offWrap(off, 0), 1, 0, 3, 4))).toEqual([true, false, false, false]);
    // A whole ring's worth covers every slot once; nothing advanced covers none.
    expect([0, 1, 2, 3].every((off) => packedNeedsEvent(offWrap(off, off < 1 ? 0 : 1), 1, 0, 4, 4))).toBe(true);
    expect(packedNeedsEvent(offWrap(0, 0), 1, 0, 0, 4)).toBe(false);
  });
});
