/** Device status bits (virtio 1.2 §2.1). */
export const Status = {
  ACKNOWLEDGE: 1,
  DRIVER: 2,
  DRIVER_OK: 4,
  FEATURES_OK: 8,
  DEVICE_NEEDS_RESET: 64,
  FAILED: 128,
} as const;

/** Device-independent feature bits (virtio 1.2 §6). */
export const Feature = {
  NOTIFY_ON_EMPTY: 24,
  ANY_LAYOUT: 27,
  INDIRECT_DESC: 28,
  EVENT_IDX: 29,
  VERSION_1: 32,
  ACCESS_PLATFORM: 33,
  RING_PACKED: 34,
  IN_ORDER: 35,
  ORDER_PLATFORM: 36,
  SR_IOV: 37,
  NOTIFICATION_DATA: 38,
  NOTIF_CONFIG_DATA: 39,
  RING_RESET: 40,
} as const;

/** Descriptor flags (virtio 1.2 §2.7.5). */
export const DescFlag = {
  NEXT: 1,
  WRITE: 2,
  INDIRECT: 4,
} as const;

/** avail.flags bit: the driver asks not to be interrupted (§2.7.6). */
export const AVAIL_F_NO_INTERRUPT = 1;
/** used.flags bit: the device asks not to be notified (§2.7.8). */
export const USED_F_NO_NOTIFY = 1;

/**
 * Packed ring descriptor flags (virtio 1.2 §2.8.1): a descriptor is available when AVAIL
 * matches the ring wrap counter and USED does not, used when both match it.
 */
export const PackedDescFlag = {
  AVAIL: 1 << 7,
  USED: 1 << 15,
} as const;

/** Event suppression `flags` values of a packed ring (§2.8.10); 3 is reserved. */
export const RingEventFlag = {
  ENABLE: 0,
  DISABLE: 1,
  /** Only for the descriptor at `off_wrap`; valid with VIRTIO_F_EVENT_IDX. */
  DESC: 2,
} as const;

/** Bit of an event suppression `off_wrap` word that holds the wrap counter (§2.8.14). */
export const EVENT_WRAP_BIT = 15;

/** Largest split queue size (§2.7), and largest packed queue size (§2.8: 2^15 entries). */
export const MAX_QUEUE_SIZE = 32768;
/** Bytes per descriptor-table entry. */
export const DESC_SIZE = 16;

/**
 * Work units one guest action (a register write: a kick, DRIVER_OK) may make the device do
 * before the rest waits for the next event ({@link VirtioDevice.serveDeferred}). A unit is a
 * descriptor read or a 4 KiB page or item the device touches for a chain (see ChainLimits);
 * on a 2-core machine a unit costs under 0.5 µs, so an action stays near 10 ms at worst. A
 * chain is started only while its worst case fits, and the first chain of an action always is.
 */
export const WORK_BUDGET = 8192;

/** Interrupt status bits (virtio-mmio InterruptStatus, virtio-pci ISR). */
export const Interrupt = {
  USED_BUFFER: 1,
  CONFIG_CHANGE: 2,
} as const;

/** Device ids (§5). */
export const DeviceId = {
  NET: 1,
  BLOCK: 2,
  CONSOLE: 3,
  ENTROPY: 4,
  BALLOON: 5,
} as const;

/** A 64-bit feature set as a bigint; bit n is `1n << BigInt(n)`. */
export function featureBit(bit: number): bigint {
  return 1n << BigInt(bit);
}

/** True when `features` has `bit` set. */
export function hasFeature(features: bigint, bit: number): boolean {
  return (features & featureBit(bit)) !== 0n;
}
