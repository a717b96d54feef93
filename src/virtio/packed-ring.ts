/** The packed ring layout's facts that device and driver share. */
import { DESC_SIZE, EVENT_WRAP_BIT, PackedDescFlag } from './constants.js';

/**
 * Facts of the packed ring layout (virtio 1.2 §2.8) that the device and the driver side share:
 * area sizes, the flag patterns of available and used descriptors, and the event index rule.
 * A ring position is a slot index in [0, size) together with the wrap counter of its lap.
 */

/** Byte sizes of the three areas for queue size `q` (§2.8.10.1). */
export function packedRingSizes(q: number): { desc: number; driver: number; device: number } {
  return { desc: DESC_SIZE * q, driver: 4, device: 4 };
}

/** Minimum alignment of each area (§2.8.10.1). */
export const PACKED_ALIGN = { desc: 16, driver: 4, device: 4 } as const;

/** Field offsets in a packed descriptor (struct pvirtq_desc, §2.8.13). */
export const PackedDesc = { ADDR: 0, LEN: 8, ID: 12, FLAGS: 14 } as const;

/** Field offsets in an event suppression structure (struct pvirtq_event_suppress, §2.8.14). */
export const EventSuppress = { OFF_WRAP: 0, FLAGS: 2 } as const;

/**
 * The AVAIL and USED bits of a descriptor the driver makes available in a lap with wrap
 * counter `wrap`: AVAIL equal to the counter, USED its inverse (§2.8.1).
 */
export function availBits(wrap: number): number {
  return wrap ? PackedDescFlag.AVAIL : PackedDescFlag.USED;
}

/** The AVAIL and USED bits of a descriptor the device marks used in a lap with wrap counter `wrap`: both equal to it. */
export function usedBits(wrap: number): number {
  return wrap ? PackedDescFlag.AVAIL | PackedDescFlag.USED : 0;
}

/** Whether `flags` mark a descriptor made available in the lap with wrap counter `wrap`. */
export function isAvailable(flags: number, wrap: number): boolean {
  return (flags & (PackedDescFlag.AVAIL | PackedDescFlag.USED)) === availBits(wrap);
}

/** Whether `flags` mark a descriptor used in the lap with wrap counter `wrap`. */
export function isUsed(flags: number, wrap: number): boolean {
  return (flags & (PackedDescFlag.AVAIL | PackedDescFlag.USED)) === usedBits(wrap);
}

/** An event suppression `off_wrap` word for ring position (`slot`, `wrap`). */
export function offWrap(slot: number, wrap: number): number {
  return slot | (wrap << EVENT_WRAP_BIT);
}

/**
 * Whether a descriptor-specific event (EVENT_IDX, §2.8.10) asks for a notification now: true
 * iff the descriptor that `offWrap` names is one of the `advanced` descriptors just made
 * available or used, which end before position (`slot`, `wrap`) of a ring of `size`. The
 * event names a slot of the current lap when its wrap counter matches, else of the lap before
 * (Linux's and QEMU's reading); plain integers, so no u16 window limit.
 */
export function packedNeedsEvent(offWrapWord: number, slot: number, wrap: number, advanced: number, size: number): boolean {
  const off = offWrapWord & ((1 << EVENT_WRAP_BIT) - 1);
  const event = offWrapWord >>> EVENT_WRAP_BIT === wrap ? off : off - size;
  return event >= slot - advanced && event < slot;
}
