/** Bit operations on bitmaps held in 32-bit words (bit i of word w is item 32·w + i). */

/** Set bits in a 32-bit word (SWAR popcount). */
export function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Set (or clear) bits [first, last], inclusive, word by word. */
export function setBits(words: Uint32Array, first: number, last: number, on = true): void {
  const lastWord = last >>> 5;
  const w = first >>> 5;
  const firstBits = ~0 << (first & 31);
  const lastBits = ~0 >>> (31 - (last & 31));
  if (w === lastWord) {
    words[w] = on ? words[w]! | (firstBits & lastBits) : words[w]! & ~(firstBits & lastBits);
    return;
  }
  words[w] = on ? words[w]! | firstBits : words[w]! & ~firstBits;
  words.fill(on ? 0xffffffff : 0, w + 1, lastWord);
  words[lastWord] = on ? words[lastWord]! | lastBits : words[lastWord]! & ~lastBits;
}

/** The first set bit at or after `from` (below 32·words.length), or -1. Skips zero words whole. */
export function nextSetBit(words: Uint32Array, from: number): number {
  let w = from >>> 5;
  if (w >= words.length) return -1;
  let word = words[w]! & (~0 << (from & 31));
  while (word === 0) {
    if (++w >= words.length) return -1;
    word = words[w]!;
  }
  // Index of the lowest set bit: 31 - clz32(word & -word).
  return w * 32 + (31 - Math.clz32(word & -word));
}
