/** What a guest device driver needs of its transport, and the feature negotiation every driver does. */
import { Feature, Status, featureBit } from '../virtio/constants.js';
import type { DriverQueue, DriverQueueOptions, RingLayout } from './driver-queue.js';
import type { DriverVirtqueue } from './driver-virtqueue.js';
import type { PackedDriverQueue, PackedDriverQueueOptions, PackedRingLayout } from './packed-driver-queue.js';

/**
 * What a guest device driver needs from its transport (Linux's virtio_config_ops): the
 * balloon driver works the same over virtio-mmio and virtio-pci.
 */
export interface TransportDriver {
  readonly status: number;
  reset(): void;
  addStatus(bits: number): void;
  deviceFeatures(): bigint;
  writeFeatures(features: bigint): void;
  /** Negotiate; `wanted` may look at the offered features (a driver's validate step). */
  negotiate(wanted: bigint | ((offered: bigint) => bigint)): bigint | undefined;
  queueMaxSize(index: number): number;
  setupQueue<T>(index: number, layout: RingLayout, options?: DriverQueueOptions): DriverQueue<T>;
  /** A packed ring instead, once VIRTIO_F_RING_PACKED was negotiated. */
  setupPackedQueue<T>(index: number, layout: PackedRingLayout, options?: PackedDriverQueueOptions): PackedDriverQueue<T>;
  driverOk(): void;
  kick(index: number, queue: DriverVirtqueue<unknown>): boolean;
  takeInterrupts(): number;
  readConfig32(offset: number): number;
  writeConfig32(offset: number, value: number): void;
}

/** Retries of a config read whose generation keeps changing before a driver gives up. */
const CONFIG_READ_TRIES = 64;

/**
 * A consistent config read (virtio 1.2 §2.5.1): the generation, the value, the generation
 * again, retried until the two generations agree; the value as an unsigned 32-bit number.
 * A device that changes its config forever is not waited for without bound.
 */
export function readConfigConsistently(generation: () => number, read: () => number): number {
  for (let attempt = 0; attempt < CONFIG_READ_TRIES; attempt++) {
    const before = generation();
    const value = read();
    if (generation() === before) return value >>> 0;
  }
  throw new Error('config generation never settled');
}

/**
 * Reset, acknowledge, and accept `wanted ∩ offered` (VERSION_1 always), as Linux's
 * virtio_dev_probe does over any transport. Returns the accepted features, or undefined when
 * the device refused FEATURES_OK (§3.1.1).
 */
export function negotiateFeatures(driver: TransportDriver, wanted: bigint | ((offered: bigint) => bigint)): bigint | undefined {
  driver.reset();
  driver.addStatus(Status.ACKNOWLEDGE);
  driver.addStatus(Status.DRIVER);
  const offered = driver.deviceFeatures();
  const want = typeof wanted === 'function' ? wanted(offered) : wanted;
  const accepted = (want | featureBit(Feature.VERSION_1)) & offered;
  driver.writeFeatures(accepted);
  driver.addStatus(Status.FEATURES_OK);
  if (!(driver.status & Status.FEATURES_OK)) {
    driver.addStatus(Status.FAILED);
    return undefined;
  }
  return accepted;
}
