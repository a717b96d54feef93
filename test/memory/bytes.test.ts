import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesEqual } from '../../src/memory/bytes.js';
import { runs } from '../support/runs.js';

describe('bytesEqual', () => {
  it('agrees with a byte loop, aligned or not, whatever byte differs', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), fc.nat(7), fc.nat(7), fc.option(fc.record({ at: fc.nat(), value: fc.nat(255) })), (bytes, offA, offB, change) => {
        const a = new Uint8Array(bytes.length + offA).subarray(offA);
        const b = new Uint8Array(bytes.length + offB).subarray(offB);
        a.set(bytes);
        b.set(bytes);
        if (change) b[change.at % b.length] = change.value;
        expect(bytesEqual(a, b)).toBe(a.every((x, i) => x === b[i]));
      }),
      { numRuns: runs(500) },
    );
  });

  it('views of different lengths are never equal', () => {
    expect(bytesEqual(new Uint8Array(4), new Uint8Array(5))).toBe(false);
  });
});
