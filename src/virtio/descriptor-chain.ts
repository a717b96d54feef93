/** The descriptor chain walker (virtio 1.2 §2.7.5): direct and indirect descriptors, bounded, every address checked. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { DESC_SIZE, DescFlag, MAX_QUEUE_SIZE } from './constants.js';
import { VirtioError } from './errors.js';

/** A guest buffer: `length` bytes at guest-physical `gpa`, known to lie in RAM. */
export interface Segment {
  readonly gpa: number;
  readonly length: number;
}

/** One available buffer as the device sees it, readable segments first (§2.7.4). */
export interface DescriptorChain {
  /** Head index in the descriptor table: what goes back in the used ring. */
  readonly head: number;
  /** Device-readable segments (the driver's "out" data). */
  readonly readable: readonly Segment[];
  /** Device-writable segments (the driver's "in" buffers). */
  readonly writable: readonly Segment[];
  readonly readableLength: number;
  readonly writableLength: number;
}

/**
 * The largest chain a queue accepts, and what serving one may cost. §2.7.4.1 lets a device
 * limit the descriptors it allows in a chain; a device type sets these to what its real drivers
 * send, so that aliased buffers (a table whose every entry points at the same bytes) cannot
 * multiply the work one guest action makes the host do.
 */
export interface ChainLimits {
  /** Buffers (data descriptors) per chain; an indirect table's own descriptor is not one. */
  readonly maxSegments: number;
  /** Bytes of all buffers together, readable and writable. */
  readonly maxBytes: number;
  /**
   * Work units serving one such chain costs at most: one per descriptor read, and one per
   * 4 KiB page or item the device reads, writes, discards or publishes for it.
   */
  readonly cost: number;
}

/** Bytes a chain may never reach (§2.7.5.2: no chain exceeds 2^32 bytes). */
const U32_LIMIT = 0x1_0000_0000;

/**
 * Limits for a device type that sets none: QEMU's VIRTQUEUE_MAX_SIZE (1024) buffers per chain,
 * which no driver that runs on QEMU exceeds, and the spec's byte bound.
 */
export const DEFAULT_CHAIN_LIMITS: ChainLimits = { maxSegments: 1024, maxBytes: U32_LIMIT - 1, cost: 1025 };

/** Where the descriptor table lives and what the chain walker may accept. */
export interface ChainContext {
  readonly memory: GuestMemory;
  readonly descTable: number;
  readonly queueSize: number;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  readonly indirect: boolean;
  /** The queue's limits (default {@link DEFAULT_CHAIN_LIMITS}). */
  readonly limits?: ChainLimits;
}

/**
 * Walk the chain that starts at `head`, following NEXT links and at most one INDIRECT table,
 * and check every rule a driver must keep (§2.7.5) and the queue's limits. Throws a
 * {@link VirtioError} naming the rule; reads only the descriptor tables and never touches the
 * buffers. It reads at most `limits.maxSegments + 1` descriptors, and never more from a table
 * than the table holds.
 */
export function readChain(ctx: ChainContext, head: number): DescriptorChain {
  const { memory } = ctx;
  const limits = ctx.limits ?? DEFAULT_CHAIN_LIMITS;
  if (head >= ctx.queueSize) {
    throw new VirtioError('head-out-of-range', `chain head ${head} is outside a queue of ${ctx.queueSize}`);
  }
  const segments = new ChainSegments(memory, limits, head);

  let table = ctx.descTable;
  let index = head;
  let inIndirect = false;
  // A chain visits each entry of a table at most once, so more descriptors than the table
  // holds means a loop (§2.7.5.2): at most queue size reads here, then at most the indirect
  // table's entries there.
  let tableSize = ctx.queueSize;
  let budget = tableSize;

  for (;;) {
    if (budget-- === 0) {
      throw new VirtioError('chain-too-long', `chain from head ${head} has more descriptors than its table (a loop)`);
    }
    const at = table + index * DESC_SIZE;
    const addr = descriptorAddress(memory.readU32(at), memory.readU32(at + 4));
    const len = memory.readU32(at + 8);
    const flags = memory.readU16(at + 12);
    const next = memory.readU16(at + 14);

    if (flags & DescFlag.INDIRECT) {
      if (!ctx.indirect) throw new VirtioError('indirect-not-negotiated', `descriptor ${index} is INDIRECT without VIRTIO_F_INDIRECT_DESC`);
      if (inIndirect) throw new VirtioError('nested-indirect', `indirect table holds an INDIRECT descriptor (${index})`);
      if (flags & DescFlag.NEXT) throw new VirtioError('indirect-with-next', `descriptor ${index} sets both INDIRECT and NEXT`);
      const entries = indirectEntries(memory, addr, len);
      // §2.7.5.3.2: the device ignores WRITE on the descriptor that points to the table.
      table = addr;
      tableSize = entries;
      budget = entries;
      index = 0;
      inIndirect = true;
      continue;
    }

    segments.add(index, addr, len, (flags & DescFlag.WRITE) !== 0);
    if (!(flags & DescFlag.NEXT)) break;
    // Checked before the next read, so a walk reads at most maxSegments buffers.
    if (segments.full) throw segments.tooLong();
    if (next >= tableSize) {
      throw new VirtioError('next-out-of-range', `descriptor ${index} links to ${next}, outside a table of ${tableSize}`);
    }
    index = next;
  }
  return segments.chain();
}

/**
 * The entries of the indirect table at `addr`, `len` bytes (§2.7.5.3, §2.8.7): a non-zero
 * multiple of 16 bytes, at most 2^15 entries, in RAM.
 */
export function indirectEntries(memory: GuestMemory, addr: number, len: number): number {
  const entries = len / DESC_SIZE;
  if (len === 0 || len % DESC_SIZE !== 0 || entries > MAX_QUEUE_SIZE) {
    throw new VirtioError('bad-indirect-length', `indirect table length ${len} is not a non-zero multiple of 16 up to ${MAX_QUEUE_SIZE} entries`);
  }
  if (!memory.contains(addr, len)) {
    throw new VirtioError('buffer-out-of-range', `indirect table 0x${addr.toString(16)}+${len} is not in guest RAM`);
  }
  return entries;
}

/**
 * The buffers of one chain as a walk finds them, split and packed rings alike: each buffer is
 * checked against RAM, device-writable buffers come after every device-readable one (§2.7.4,
 * §2.8.6), and the chain stays within the queue's byte limit.
 */
export class ChainSegments {
  readonly readable: Segment[] = [];
  readonly writable: Segment[] = [];
  readableLength = 0;
  writableLength = 0;

  constructor(
    private readonly memory: GuestMemory,
    private readonly limits: ChainLimits,
    /** What the messages call the chain: its head index (split) or its first ring slot (packed). */
    private readonly head: number,
  ) {}

  /** Whether the walk may not read another buffer (checked before it does, so it reads at most maxSegments). */
  get full(): boolean {
    return this.readable.length + this.writable.length === this.limits.maxSegments;
  }

  /** Add the buffer that descriptor `index` describes. */
  add(index: number, addr: number, len: number, write: boolean): void {
    if (!this.memory.contains(addr, len)) {
      throw new VirtioError('buffer-out-of-range', `descriptor ${index} buffer 0x${addr.toString(16)}+${len} is not in guest RAM`);
    }
    if (write) {
      this.writable.push({ gpa: addr, length: len });
      this.writableLength += len;
    } else {
      if (this.writable.length > 0) {
        throw new VirtioError('readable-after-writable', `descriptor ${index} is device-readable but follows a device-writable one`);
      }
      this.readable.push({ gpa: addr, length: len });
      this.readableLength += len;
    }
    // §2.7.5.2: a chain may not exceed 2^32 bytes in total; the queue may allow fewer.
    // Both lengths stay below 2^33 here, so the sum is exact.
    if (this.readableLength + this.writableLength > this.limits.maxBytes) {
      const bound = this.limits.maxBytes >= U32_LIMIT - 1 ? 'is 2^32 bytes or more' : `holds more than ${this.limits.maxBytes} bytes, this queue's limit`;
      throw new VirtioError('chain-too-large', `chain from head ${this.head} ${bound}`);
    }
  }

  /** The error for a buffer more than the queue allows. */
  tooLong(): VirtioError {
    return new VirtioError('chain-too-long', `chain from head ${this.head} has more than ${this.limits.maxSegments} buffers, this queue's limit`);
  }

  /** The chain, returned to the driver as `head` (split: the head index; packed: the buffer id). */
  chain(head = this.head): DescriptorChain {
    const { readable, writable, readableLength, writableLength } = this;
    return { head, readable, writable, readableLength, writableLength };
  }
}

/** A descriptor's le64 address from its halves: above 2^53 is not RAM anyway, so it saturates before the sum loses precision. */
export function descriptorAddress(low: number, high: number): number {
  return high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * U32_LIMIT + low;
}
