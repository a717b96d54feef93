/** 64-bit addresses written in two 32-bit halves, saturated rather than rounded. */
const U32 = 0x1_0000_0000;

/**
 * Replace the low 32 bits of a 64-bit address a driver writes in halves. High halves above 2^21
 * make addresses of 2^53 or more, which are saturated to 2^53 (not a safe integer: every RAM
 * check fails on it) instead of being rounded onto real RAM.
 */
export function setLow(address: number, low: number): number {
  return Math.floor(address / U32) * U32 + low;
}

/** Replace the high 32 bits (see {@link setLow}). */
export function setHigh(address: number, high: number): number {
  return high > 0x1fffff ? 2 ** 53 : high * U32 + (address % U32);
}
