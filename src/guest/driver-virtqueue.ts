/** What the guest's drivers need of a virtqueue, whatever its layout (split or packed). */
import type { Segment } from '../virtio/descriptor-chain.js';

/** A used buffer returned to the driver. */
export interface UsedBuffer<T> {
  readonly token: T;
  readonly len: number;
}

/**
 * The driver side of a virtqueue of either layout, as Linux's virtqueue API offers it
 * (virtqueue_add_sgs, kick_prepare, get_buf, detach_unused_buf, enable/disable_cb): device
 * drivers work the same over a split ring ({@link DriverQueue}) and a packed one
 * ({@link PackedDriverQueue}), whichever the features chose.
 */
export interface DriverVirtqueue<T> {
  /** Descriptors not in use. */
  readonly freeDescriptors: number;
  /** Buffers given to the device and not yet returned. */
  readonly outstanding: number;
  /**
   * Make a buffer of device-readable `out` then device-writable `inn` segments available.
   * Returns false (and changes nothing) when there are not enough free descriptors.
   */
  add(out: readonly Segment[], inn: readonly Segment[], token: T): boolean;
  /** Whether the device wants a notification for what was added since the last call. */
  kickNeeded(): boolean;
  /** Take the next used buffer, or undefined when there is none. Throws when the device returns one that is not in flight. */
  getUsed(): UsedBuffer<T> | undefined;
  /** Every used buffer available now, in ring order. */
  drainUsed(): UsedBuffer<T>[];
  /** Forget every buffer still with the device (after a device reset) and return their tokens with their ids. */
  takeOutstanding(): Array<[number, T]>;
  /** Ask for (or suppress) used-buffer interrupts; after turning them on, re-check {@link getUsed} (the re-enable race). */
  setInterrupts(enabled: boolean): void;
}
