import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { needsEvent } from '../../src/virtio/split-queue.js';
import { runs } from '../support/runs.js';

/**
 * virtio 1.2 §2.7.7.2, written out: having published the entries at ring positions
 * old, old+1, …, new-1 (mod 2^16), the device notifies iff one of them is the position
 * `used_event` names — by enumeration, not by the batched inequality.
 */
function specNeedsEvent(event: number, newIdx: number, oldIdx: number): boolean {
  const published = (newIdx - oldIdx) & 0xffff;
  for (let k = 0; k < published; k++) if (((oldIdx + k) & 0xffff) === event) return true;
  return false;
}

const u16 = fc.integer({ min: 0, max: 0xffff });

describe('EVENT_IDX need-event rule', () => {
  it('matches the spec for arbitrary u16 values', () => {
    fc.assert(
      fc.property(u16, u16, fc.integer({ min: 0, max: 600 }), (event, oldIdx, count) => {
        const newIdx = (oldIdx + count) & 0xffff;
        expect(needsEvent(event, newIdx, oldIdx)).toBe(specNeedsEvent(event, newIdx, oldIdx));
      }),
      { numRuns: runs(5000) },
    );
  });

  it('matches the spec when the event is just around the published window, across the wrap', () => {
    fc.assert(
      fc.property(u16, fc.integer({ min: 0, max: 300 }), fc.integer({ min: -3, max: 3 }), fc.boolean(), (oldIdx, count, delta, atEnd) => {
        const newIdx = (oldIdx + count) & 0xffff;
        const event = ((atEnd ? newIdx : oldIdx) + delta) & 0xffff;
        expect(needsEvent(event, newIdx, oldIdx)).toBe(specNeedsEvent(event, newIdx, oldIdx));
      }),
      { numRuns: runs(5000) },
    );
  });

  it('handles the 65535 → 0 wrap by hand', () => {
    expect(needsEvent(65535, 1, 65534)).toBe(true);
    expect(needsEvent(0, 1, 65534)).toBe(true);
    expect(needsEvent(1, 1, 65534)).toBe(false);
    expect(needsEvent(65533, 1, 65534)).toBe(false);
    expect(needsEvent(5, 5, 5)).toBe(false);
  });
});
