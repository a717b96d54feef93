/** Why a guest-physical access was refused. */
export type MemoryErrorKind =
  /** Part of the range is not backed by RAM (a hole, or past the end). */
  | 'out-of-range'
  /** The address or length is not a non-negative safe integer. */
  | 'bad-address'
  /** A 64-bit value does not fit in a JavaScript number exactly (above 2^53 - 1). */
  | 'u64-unsafe'
  /** The argument is not what the API accepts (not page aligned, bad region layout, …). */
  | 'bad-argument';

/** A guest memory access that could not be done. Nothing was written. */
export class MemoryError extends Error {
  override readonly name = 'MemoryError';
  constructor(
    readonly kind: MemoryErrorKind,
    readonly gpa: number,
    readonly length: number,
    message: string,
  ) {
    super(message);
  }
}
