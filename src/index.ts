/**
 * freehint: a virtio-balloon device with free page hinting, a simulated guest, and a
 * live-migration engine. This module is the public API.
 */
export * from './memory/index.js';
export * from './virtio/index.js';
export { DriverQueue, layoutRing, type RingLayout, type DriverQueueOptions, type UsedBuffer } from './guest/driver-queue.js';


