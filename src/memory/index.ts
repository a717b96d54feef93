export { MemoryError, type MemoryErrorKind } from './errors.js';
export { DirtyLog, popcount32 } from './dirty-log.js';
export { PAGE_SIZE, type GuestMemory, type RamRegion } from './guest-memory.js';
export { FlatMemory, type BackedRegion } from './flat-memory.js';
export { SparseMemory } from './sparse-memory.js';
export { PageBitmap } from './page-bitmap.js';
export { CompactMemory, type CompactMemoryOptions } from './compact-memory.js';
export { fillPattern, recognisePattern, PATTERN_MAGIC, type PatternId } from './page-pattern.js';
export { LazyU32Array } from './lazy-array.js';
