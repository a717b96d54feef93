/** Numbers from the command line, checked: seeds, whole numbers in a range, huge page sizes. */
import { parseSize } from 'freehint';
import { UsageError } from '../usage-error.js';

/** A seed: a whole number from 0 to 2^32 − 1, written in decimal. */
export function parseSeed(text: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n > 2 ** 32 - 1) throw new UsageError(`seed '${text}': expected a whole number from 0 to 4294967295`);
  return n;
}

/** A whole number in [min, max]. */
export function parseWhole(text: string, what: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${what} '${text}': expected a whole number from ${min} to ${max}`);
  return n;
}

/**
 * A host huge page size: a power of two from 4K (no huge pages) to 1G, the sizes an x86 or
 * arm64 host maps guest RAM with; no larger than the guest, whose RAM it must tile.
 */
export function parseHugePage(text: string, guestBytes: number): number {
  const bytes = parseSize(text, 'huge page size');
  if (bytes < 4096 || bytes > 2 ** 30 || (bytes & (bytes - 1)) !== 0) throw new UsageError(`huge page size '${text}': expected a power of two from 4K to 1G, like 2M`);
  if (bytes > guestBytes) throw new UsageError(`huge page size '${text}': larger than the guest's RAM`);
  return bytes;
}
