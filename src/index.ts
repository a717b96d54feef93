/**
 * freehint: a virtio-balloon device with free page hinting, a simulated guest, and a
 * live-migration engine. This module is the public API.
 */
export * from './memory/index.js';
export * from './virtio/index.js';
export * from './guest/index.js';
export * from './migration/index.js';
export * from './sim/index.js';
export { attachToV86, type V86Emulator, type AttachedDevice, type AttachOptions } from './vmm/v86.js';
