/**
 * freehint/testing: the fuzzing kit — devices, memories and properties for testing virtio
 * devices, drivers and VMM glue.
 */
export { EchoDevice, ECHO_DEVICE_ID, ECHO_CHAIN_LIMITS } from './echo-device.js';
export { WatchedMemory, AccessBudgetExceeded } from './watched-memory.js';
export {
  hostileRing,
  placeHostileRing,
  hostileLayout,
  HOSTILE_RAM,
  HOSTILE_RING_BASE,
  HOSTILE_TABLE_BASE,
  type HostileRing,
  type RawDescriptor,
  type BytePatch,
} from './hostile-ring.js';
export {
  hostilePackedRing,
  placeHostilePackedRing,
  hostilePackedLayout,
  hostilePackedStart,
  type HostilePackedRing,
  type RawPackedDescriptor,
  type PackedMark,
} from './hostile-packed-ring.js';
export { registerScript, type RegisterAccess } from './register-script.js';
export {
  runHostileRing,
  runHostilePackedRing,
  hostileRingProperty,
  hostilePackedRingProperty,
  DEFAULT_ACCESS_BUDGET,
  type HostileRunOptions,
  type HostileRingPropertyOptions,
} from './ring-fuzz.js';
export { DeviceAudit } from './device-audit.js';
export { ViolationError, type Violation, type ViolationKind } from './violation.js';
export { watchBalloon } from './balloon-watch.js';
export { streamDecodingProperty, checkStreamDecoding, migrationStreamBytes, type StreamReceiver } from './stream-fuzz.js';
export { hintProtocolProperty, type HintingDevice } from './hint-protocol.js';
export { migrationFaultProperty, faultArbitrary, faultCaseArbitrary, injectFault, smallBusyGuest, smallDestination, type Fault, type FaultCase } from './migration-faults.js';
export { pciRegisterProperty, runPciScript, pciAccess, pciScript, type PciAccess, type PciScript, type PciSetup, type PciRunOptions } from './pci-fuzz.js';
