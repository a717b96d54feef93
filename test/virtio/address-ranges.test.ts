import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../../src/memory/guest-memory.js';
import { wholePages } from '../../src/virtio/balloon/ranges.js';
import { setHigh, setLow } from '../../src/virtio/transport/address.js';

describe('64-bit addresses written in halves', () => {
  it('each half replaces only its own bits', () => {
    expect(setLow(5 * 2 ** 32 + 7, 9)).toBe(5 * 2 ** 32 + 9);
    expect(setLow(0, 0xffffffff)).toBe(0xffffffff);
    expect(setHigh(5 * 2 ** 32 + 7, 3)).toBe(3 * 2 ** 32 + 7);
    expect(setHigh(0xffffffff, 0)).toBe(0xffffffff);
  });

  it('a high half of 2^21 or more saturates to 2^53, which no RAM check accepts', () => {
    expect(setHigh(0xffffffff, 0x1fffff)).toBe(Number.MAX_SAFE_INTEGER);
    expect(setHigh(0, 0x200000)).toBe(2 ** 53);
    expect(setHigh(12, 0xffffffff)).toBe(2 ** 53);
  });
});

describe('whole pages of a segment', () => {
  it('rounds inward: partly covered pages are left out', () => {
    expect(wholePages({ gpa: PAGE_SIZE, length: 3 * PAGE_SIZE })).toEqual({ gpa: PAGE_SIZE, length: 3 * PAGE_SIZE });
    expect(wholePages({ gpa: PAGE_SIZE + 1, length: 3 * PAGE_SIZE })).toEqual({ gpa: 2 * PAGE_SIZE, length: 2 * PAGE_SIZE });
    expect(wholePages({ gpa: PAGE_SIZE - 1, length: PAGE_SIZE + 1 })).toEqual({ gpa: PAGE_SIZE, length: PAGE_SIZE });
  });

  it('none when the segment covers no whole page, even when its ends round to one address', () => {
    expect(wholePages({ gpa: PAGE_SIZE, length: PAGE_SIZE / 2 })).toBeUndefined();
    expect(wholePages({ gpa: PAGE_SIZE + 0x100, length: 0x100 })).toBeUndefined();
    expect(wholePages({ gpa: PAGE_SIZE, length: 0 })).toBeUndefined();
  });
});
