import { describe, expect, it } from 'vitest';
import { StateError } from '../../src/virtio/state-error.js';
import { boolean, format, hexBits, integer, join, list, oneOf, record, text, u16, u32 } from '../../src/virtio/state-fields.js';

// The readers every saved state is checked with: each accepts exactly its values, at both
// ends, and names the field in a StateError otherwise.

function refused(read: () => unknown, field: string, reason: RegExp): void {
  let error: unknown;
  try {
    read();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(StateError);
  expect((error as StateError).name).toBe('StateError');
  expect((error as StateError).field).toBe(field);
  expect((error as StateError).reason).toMatch(reason);
  expect((error as StateError).message).toBe(`${field}: ${(error as StateError).reason}`);
}

describe('state field readers', () => {
  it('record: plain objects only', () => {
    expect(record({ a: 1 }, 'x')).toEqual({ a: 1 });
    refused(() => record(null, 'x'), 'x', /^is not an object$/);
    refused(() => record([], 'x'), 'x', /^is not an object$/);
    refused(() => record('o', 'x'), 'x', /^is not an object$/);
  });

  it('integer: both ends included, nothing past them, no fractions, no other types', () => {
    expect(integer(3, 'n', 3, 5)).toBe(3);
    expect(integer(5, 'n', 3, 5)).toBe(5);
    refused(() => integer(2, 'n', 3, 5), 'n', /^2 is not an integer in \[3, 5\]$/);
    refused(() => integer(6, 'n', 3, 5), 'n', /^6 is not an integer in \[3, 5\]$/);
    refused(() => integer(3.5, 'n', 3, 5), 'n', /^3\.5 is not/);
    refused(() => integer('4', 'n', 3, 5), 'n', /^"4" is not/);
    refused(() => integer(Number.NaN, 'n', 0, 5), 'n', /^NaN is not/);
    expect(u32(0xffffffff, 'n')).toBe(0xffffffff);
    refused(() => u32(2 ** 32, 'n'), 'n', /\[0, 4294967295\]/);
    refused(() => u32(-1, 'n'), 'n', /^-1 /);
    expect(u16(0xffff, 'n')).toBe(0xffff);
    refused(() => u16(0x10000, 'n'), 'n', /\[0, 65535\]/);
  });

  it('boolean, oneOf, text', () => {
    expect(boolean(false, 'b')).toBe(false);
    refused(() => boolean(0, 'b'), 'b', /^0 is not a boolean$/);
    expect(oneOf('b', 'o', ['a', 'b'])).toBe('b');
    refused(() => oneOf('c', 'o', ['a', 'b']), 'o', /^"c" is not one of a, b$/);
    refused(() => oneOf(1, 'o', ['a']), 'o', /^1 is not one of a$/);
    expect(text('abc', 't', 3)).toBe('abc');
    refused(() => text('abcd', 't', 3), 't', /^is not a string of up to 3 characters$/);
    refused(() => text(3, 't', 3), 't', /string/);
  });

  it('list: arrays of at most maxLength entries', () => {
    expect(list([1, 2], 'l', 2)).toEqual([1, 2]);
    refused(() => list([1, 2, 3], 'l', 2), 'l', /^has 3 entries, more than 2$/);
    refused(() => list({ length: 1 }, 'l', 2), 'l', /^an object is not an array$/);
  });

  it('hexBits: lowercase hex digits, no more than the bits allow, checked before parsing', () => {
    expect(hexBits('0', 'h', 128)).toBe(0n);
    expect(hexBits('f'.repeat(32), 'h', 128)).toBe(2n ** 128n - 1n);
    refused(() => hexBits('f'.repeat(33), 'h', 128), 'h', /is not 32 or fewer hex digits$/);
    refused(() => hexBits('', 'h', 128), 'h', /^"" is not/);
    refused(() => hexBits('zz', 'h', 128), 'h', /^"zz" is not/);
    refused(() => hexBits('FF', 'h', 128), 'h', /^"FF" is not/);
    refused(() => hexBits('0x1', 'h', 128), 'h', /^"0x1" is not/);
    refused(() => hexBits(12, 'h', 128), 'h', /^12 is not/);
    // A long value is described by its start only.
    refused(() => hexBits('g'.repeat(1000), 'h', 128), 'h', /^"g{24}…" is not/);
  });

  it('describes each kind of value it refuses in a few words', () => {
    refused(() => integer(true, 'n', 0, 1), 'n', /^true is not/);
    refused(() => integer(null, 'n', 0, 1), 'n', /^null is not/);
    refused(() => integer(undefined, 'n', 0, 1), 'n', /^undefined is not/);
    refused(() => integer({}, 'n', 0, 1), 'n', /^an object is not/);
    refused(() => integer(1n, 'n', 0, 1), 'n', /^bigint is not/);
    refused(() => integer('g'.repeat(24), 'n', 0, 1), 'n', /^"g{24}" is not/);
    refused(() => integer('g'.repeat(25), 'n', 0, 1), 'n', /^"g{24}…" is not/);
  });

  it('join and format: paths, tags and versions', () => {
    expect(join('', 'a')).toBe('a');
    expect(join('a', 'b')).toBe('a.b');
    expect(join('a', 2)).toBe('a[2]');
    expect(() => format({ kind: 'x', version: 1 }, 'p', 'kind', 'x', 1)).not.toThrow();
    refused(() => format({ kind: 'y', version: 1 }, 'p', 'kind', 'x', 1), 'p.kind', /^"y" is not "x"$/);
    refused(() => format({ kind: 'x', version: 2 }, '', 'kind', 'x', 1), 'version', /^2 is not a supported version \(1\)$/);
    refused(() => format({ kind: 'x' }, '', 'kind', 'x', 1), 'version', /^undefined is not/);
    refused(() => format({ kind: 'x', version: [1] }, '', 'kind', 'x', 1), 'version', /^an array is not/);
    refused(() => format({ kind: 'x', version: { v: 1 } }, '', 'kind', 'x', 1), 'version', /^an object is not/);
  });
});
