export { Status, Feature, DescFlag, Interrupt, DeviceId, MAX_QUEUE_SIZE, WORK_BUDGET, featureBit, hasFeature } from './constants.js';
export { VirtioError, type VirtioErrorKind } from './errors.js';
export { readChain, DEFAULT_CHAIN_LIMITS, type ChainContext, type ChainLimits, type DescriptorChain, type Segment } from './descriptor-chain.js';
export { SplitQueue, needsEvent, ringSizes, isValidQueueSize, type SplitQueueState } from './split-queue.js';
export { VirtioDevice, type InterruptEvent, type DeviceCounters, type VirtioDeviceState } from './device.js';
export { MmioTransport, MmioReg, MMIO_MAGIC, MMIO_VERSION, MMIO_WINDOW, FREEHINT_VENDOR_ID, type MmioCounters } from './transport/mmio.js';
export * from './balloon/index.js';
export { PciTransport, PciLayout, PciCapType, CommonCfg, PCI_VENDOR_VIRTIO, PCI_DEVICE_ID_BASE, PCI_BAR_SIZE, type PciCounters } from './transport/pci.js';
