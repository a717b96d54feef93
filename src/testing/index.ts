/**
 * freehint/testing: the fuzzing kit — devices, memories and properties for testing virtio
 * devices, drivers and VMM glue.
 */
export { EchoDevice, ECHO_DEVICE_ID } from './echo-device.js';
export { WatchedMemory, AccessBudgetExceeded } from './watched-memory.js';
export { hostileRing, runHostileRing, HOSTILE_RAM, type HostileRing, type HostileRunOptions, type RawDescriptor, type RegisterAccess } from './hostile-ring.js';
export { watchBalloon } from './balloon-watch.js';
