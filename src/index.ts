/**
 * freehint: a virtio-balloon device with free page hinting, a simulated guest, and a
 * live-migration engine. This module is the public API, listed name by name: what a VMM
 * embeds, what drives a device from the guest side, what migrates, and what compares
 * strategies. Everything else is internal and may change; the fuzzing kit is `freehint/testing`.
 */

// Guest memory: the contract a device reads and writes through, and its implementations.
export { PAGE_SIZE, type GuestMemory, type RamRegion, type PageDescriber, type PageDescription, type PatternRun } from './memory/guest-memory.js';
export { FlatMemory, type BackedRegion } from './memory/flat-memory.js';
export { SparseMemory } from './memory/sparse-memory.js';
export { CompactMemory, type CompactMemoryOptions } from './memory/compact/compact-memory.js';
export { DirtyLog } from './memory/dirty-log.js';
export { PageBitmap } from './memory/page-bitmap.js';
export { MemoryError, type MemoryErrorKind } from './memory/errors.js';

// The virtio core: spec constants, errors, chains and queues, the device, the transports.
export { Status, Feature, DescFlag, PackedDescFlag, RingEventFlag, Interrupt, DeviceId, MAX_QUEUE_SIZE, WORK_BUDGET, featureBit, hasFeature } from './virtio/constants.js';
export { VirtioError, VIRTIO_ERROR_KINDS, type VirtioErrorKind } from './virtio/errors.js';
export { StateError } from './virtio/state-error.js';
export { readChain, DEFAULT_CHAIN_LIMITS, type ChainContext, type ChainLimits, type DescriptorChain, type Segment } from './virtio/descriptor-chain.js';
export { SplitQueue, type SplitQueueState } from './virtio/split-queue.js';
export { PackedQueue, type PackedQueueState } from './virtio/packed-queue.js';
export { packedRingSizes } from './virtio/packed-ring.js';
export type { Virtqueue } from './virtio/device.js';
export { VirtioDevice, type InterruptEvent, type DeviceCounters } from './virtio/device.js';
export type { VirtioDeviceState } from './virtio/device-state.js';
export { MmioTransport, MmioReg, MMIO_MAGIC, MMIO_VERSION, MMIO_WINDOW, FREEHINT_VENDOR_ID, type MmioCounters } from './virtio/transport/mmio.js';
export { PciTransport, PciLayout, PciCapType, CommonCfg, PCI_VENDOR_VIRTIO, PCI_DEVICE_ID_BASE, PCI_BAR_SIZE, type PciCounters } from './virtio/transport/pci.js';
export type { MmioTransportState, PciTransportState } from './virtio/transport/transport-state.js';

// The balloon device and its free page hints.
export {
  BalloonFeature,
  BalloonConfig,
  BALLOON_PFN_SHIFT,
  BALLOON_PAGE_SIZE,
  CMD_ID_STOP,
  CMD_ID_DONE,
  DEFAULT_QUEUE_SIZES,
  STAT_TAGS,
  STAT_ENTRY_SIZE,
  type BalloonQueueRole,
  type StatName,
} from './virtio/balloon/constants.js';
export { BalloonDevice, balloonQueueRoles, type BalloonOptions, type HintBatch, type BalloonStats, type BalloonCounters } from './virtio/balloon/balloon-device.js';
export type { HintState, HintSnapshot } from './virtio/balloon/free-page-hint.js';
export type { PageRange } from './virtio/balloon/ranges.js';
export type { BalloonState } from './virtio/balloon/balloon-state.js';

// The guest side: rings and transports as a driver sees them, the balloon driver, the
// simulated kernel and its workloads.
export { DriverQueue, layoutRing, type RingLayout, type DriverQueueOptions, type UsedBuffer } from './guest/driver-queue.js';
export { PackedDriverQueue, layoutPackedRing, type PackedRingLayout, type PackedDriverQueueOptions } from './guest/packed-driver-queue.js';
export { negotiateFeatures, type TransportDriver } from './guest/transport-driver.js';
export { MmioDriver, type MmioBus } from './guest/mmio-driver.js';
export { PciDriver, type PciBus } from './guest/pci-driver.js';
export { BalloonDriver, type BalloonDriverOptions, type GuestCpuCosts, type GuestMemoryStats } from './guest/balloon-driver.js';
export { GuestKernel, type KernelCounters } from './guest/kernel.js';
export { BuddyAllocator, type BuddyOptions, type FreePolicy } from './guest/buddy.js';
export {
  idle,
  compile,
  hog,
  sanitize,
  writtenThenFreed,
  IDLE_DEFAULTS,
  COMPILE_DEFAULTS,
  FREED_DEFAULTS,
  HOG_DEFAULTS,
  type Workload,
  type IdleParams,
  type CompileParams,
  type HogParams,
  type FreedParams,
} from './guest/workloads.js';

// Migration: the stream, the destination, the strategies, the precopy and postcopy engines.
export { StreamReader, StreamWriter, StreamError, RecordType, STREAM_MAGIC, STREAM_VERSION, type StreamRecord, type StreamErrorKind, type ByteSink } from './migration/stream.js';
export { Destination, Incoming, type Received } from './migration/destination.js';
export { DEFAULT_COST_MODEL, type CostModel } from './migration/cost-model.js';
export { strategySet, StrategyError, STRATEGIES, type Strategy, type StrategySet } from './migration/strategies.js';
export { PrecopyMigration, DEFAULT_DOWNTIME_LIMIT_MS, type PrecopyOptions } from './migration/precopy.js';
export type { MigrationSource, MigrationResult, RoundProgress, HandOff } from './migration/migration-source.js';
export type { HintSource, HintedRange } from './migration/hint-source.js';
export { SAFE_PRECOPY_RULES, SAFE_POSTCOPY_RULES, type PrecopySafetyRules, type PostcopySafetyRules, type HintWindowView } from './migration/safety-rules.js';
export { OverlayManager, OVERLAY_KINDS, type Overlay, type OverlayKind, type OverlayMode } from './migration/overlay.js';
export { MigrationError, type MigrationErrorKind } from './migration/errors.js';
export type { HintPolicy, PostcopyStats, LatencySummary } from './migration/postcopy.js';

// The simulator: a small VMM around the simulated guest, migrations, scenarios, comparisons.
export { Vm, type VmOptions, type MemoryKind } from './sim/vm.js';
export { migrate, type MigrateOptions, type Migration } from './sim/migrate.js';
export { migratePostcopy, type PostcopyMigrateOptions, type PostcopyOutcome } from './sim/postcopy-migrate.js';
export { runBalloonDemo } from './sim/balloon-demo.js';
export { runStrategy, prepareGuest, withReductions, compareScenarios, type StrategyResult, type StrategyProgress, type CompareEvent } from './sim/compare.js';
export { comparePostcopy, type PostcopyVariantResult } from './sim/postcopy-compare.js';
export { checkScenario, parseSize, ScenarioError, PUBLISHED_SETUP, DEFAULT_STRATEGIES, WORKLOADS, FREE_POLICIES, type Scenario, type WorkloadName } from './sim/scenario.js';
export { HOST_NAMES, HOST_PROFILES, type HostName, type HostProfile } from './sim/host-profile.js';

// Adapters that plug a freehint device into a host VMM.
export { attachToV86, type V86Emulator, type AttachedDevice, type AttachOptions } from './vmm/v86.js';
