export { DriverQueue, layoutRing, type RingLayout, type DriverQueueOptions, type UsedBuffer } from './driver-queue.js';
export { PackedDriverQueue, layoutPackedRing, type PackedRingLayout, type PackedDriverQueueOptions } from './packed-driver-queue.js';
export type { DriverVirtqueue } from './driver-virtqueue.js';
export { MmioDriver, type MmioBus } from './mmio-driver.js';
export { negotiateFeatures, type TransportDriver } from './transport-driver.js';
export { BuddyAllocator, PAGE_POISON_BYTE, type BuddyOptions, type FreePolicy, type PageContents } from './buddy.js';
export {
  BalloonDriver,
  PFNS_PER_REQUEST,
  OOM_DEFLATE_PAGES,
  POISON_VAL,
  REPORTING_CAPACITY,
  REPORTING_DELAY_MS,
  REPORTING_ORDER,
  type BalloonDriverOptions,
  type GuestCpuCosts,
  type GuestMemoryStats,
} from './balloon-driver.js';
export { GuestKernel, type GuestKernelOptions, type KernelCounters, type Shrinker, type OomNotifier } from './kernel.js';
export {
  idle,
  compile,
  hog,
  sanitize,
  writtenThenFreed,
  IDLE_DEFAULTS,
  FREED_DEFAULTS,
  COMPILE_DEFAULTS,
  HOG_DEFAULTS,
  type Workload,
  type IdleParams,
  type CompileParams,
  type HogParams,
  type FreedParams,
} from './workloads.js';
export { Random } from './random.js';
export { PciDriver, type PciBus } from './pci-driver.js';
