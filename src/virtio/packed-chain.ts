/** Walking one buffer of a packed ring: its descriptors, direct or indirect, checked. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { DESC_SIZE, DescFlag } from './constants.js';
import { ChainSegments, DEFAULT_CHAIN_LIMITS, descriptorAddress, indirectEntries, type ChainLimits, type DescriptorChain } from './descriptor-chain.js';
import { VirtioError } from './errors.js';
import { PackedDesc, isAvailable } from './packed-ring.js';

/** Where a packed buffer starts and what the walker may accept. */
export interface PackedChainContext {
  readonly memory: GuestMemory;
  /** The descriptor ring (Descriptor Area). */
  readonly ring: number;
  readonly queueSize: number;
  /** The ring position of the buffer's first descriptor: slot and lap wrap counter. */
  readonly slot: number;
  readonly wrap: number;
  /** Descriptors the driver owns from `slot` on: the queue size less those in flight (§2.8.6). */
  readonly room: number;
  /** VIRTIO_F_INDIRECT_DESC was negotiated. */
  readonly indirect: boolean;
  readonly limits?: ChainLimits;
}

/** A buffer read from a packed ring: the chain (`head` is its buffer id) and the ring slots it took. */
export interface PackedChain {
  readonly chain: DescriptorChain;
  readonly slots: number;
}

/**
 * Read the buffer whose first descriptor is at `ctx.slot` (the caller saw it available):
 * descriptors linked by NEXT in the following ring slots, wrapping at the end of the ring, or
 * one INDIRECT descriptor and its table (§2.8.6–2.8.7), checked against every rule a driver
 * must keep and the queue's limits. Throws a {@link VirtioError} naming the rule; reads only
 * descriptors, never buffers: at most `limits.maxSegments` of them from the ring or a table,
 * and never a slot the driver does not own.
 */
export function readPackedChain(ctx: PackedChainContext): PackedChain {
  const { memory } = ctx;
  const segments = new ChainSegments(memory, ctx.limits ?? DEFAULT_CHAIN_LIMITS, ctx.slot);
  let slot = ctx.slot;
  let wrap = ctx.wrap;
  for (let taken = 1; ; taken++) {
    // The driver may make available only slots the device gave back (§2.8.6: a list never
    // longer than the queue size, and never over buffers in flight).
    if (taken > ctx.room) {
      throw new VirtioError('ring-overrun', `buffer at ring slot ${ctx.slot} runs past the ${ctx.room} descriptors the driver owns`);
    }
    const at = ctx.ring + slot * DESC_SIZE;
    const addr = descriptorAddress(memory.readU32(at), memory.readU32(at + 4));
    const len = memory.readU32(at + PackedDesc.LEN);
    const id = memory.readU16(at + PackedDesc.ID);
    const flags = memory.readU16(at + PackedDesc.FLAGS);
    // §2.8.6: every descriptor of a list carries the AVAIL/USED bits of its own lap.
    // Stryker disable next-line ConditionalExpression,EqualityOperator: the caller saw the first one available
    if (taken > 1 && !isAvailable(flags, wrap)) {
      throw new VirtioError('descriptor-not-available', `descriptor ${slot} continues the buffer at ring slot ${ctx.slot} but is not marked available`);
    }
    if (flags & DescFlag.INDIRECT) {
      if (!ctx.indirect) throw new VirtioError('indirect-not-negotiated', `descriptor ${slot} is INDIRECT without VIRTIO_F_INDIRECT_DESC`);
      // §2.8.7: no INDIRECT descriptor in a list linked by NEXT, so it is its buffer's only one.
      if (taken > 1 || flags & DescFlag.NEXT) throw new VirtioError('indirect-with-next', `descriptor ${slot} is INDIRECT inside a list linked by NEXT`);
      const entries = indirectEntries(memory, addr, len);
      // The table's descriptors follow one another; WRITE is their only flag, the rest is
      // reserved and ignored, and so is WRITE on the descriptor pointing to the table (§2.8.7).
      for (let i = 0; i < entries; i++) {
        if (segments.full) throw segments.tooLong();
        const entry = addr + i * DESC_SIZE;
        segments.add(i, descriptorAddress(memory.readU32(entry), memory.readU32(entry + 4)), memory.readU32(entry + PackedDesc.LEN), (memory.readU16(entry + PackedDesc.FLAGS) & DescFlag.WRITE) !== 0);
      }
      return { chain: segments.chain(id), slots: 1 };
    }
    segments.add(slot, addr, len, (flags & DescFlag.WRITE) !== 0);
    // §2.8.6: the buffer id is in the list's last descriptor.
    if (!(flags & DescFlag.NEXT)) return { chain: segments.chain(id), slots: taken };
    if (segments.full) throw segments.tooLong();
    slot++;
    if (slot === ctx.queueSize) {
      slot = 0;
      wrap ^= 1;
    }
  }
}
