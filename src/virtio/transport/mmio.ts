/** The virtio-mmio transport (virtio 1.2 §4.2): the register file a VMM dispatches MMIO accesses to. */
import type { VirtioDevice } from '../device.js';
import { setHigh, setLow } from './address.js';
import { parseMmioState, type MmioTransportState } from './transport-state.js';

/** virtio-mmio register offsets, version 2 (virtio 1.2 §4.2.2). */
export const MmioReg = {
  MAGIC_VALUE: 0x000,
  VERSION: 0x004,
  DEVICE_ID: 0x008,
  VENDOR_ID: 0x00c,
  DEVICE_FEATURES: 0x010,
  DEVICE_FEATURES_SEL: 0x014,
  DRIVER_FEATURES: 0x020,
  DRIVER_FEATURES_SEL: 0x024,
  QUEUE_SEL: 0x030,
  QUEUE_NUM_MAX: 0x034,
  QUEUE_NUM: 0x038,
  QUEUE_READY: 0x044,
  QUEUE_NOTIFY: 0x050,
  INTERRUPT_STATUS: 0x060,
  INTERRUPT_ACK: 0x064,
  STATUS: 0x070,
  QUEUE_DESC_LOW: 0x080,
  QUEUE_DESC_HIGH: 0x084,
  QUEUE_DRIVER_LOW: 0x090,
  QUEUE_DRIVER_HIGH: 0x094,
  QUEUE_DEVICE_LOW: 0x0a0,
  QUEUE_DEVICE_HIGH: 0x0a4,
  SHM_SEL: 0x0ac,
  SHM_LEN_LOW: 0x0b0,
  SHM_LEN_HIGH: 0x0b4,
  SHM_BASE_LOW: 0x0b8,
  SHM_BASE_HIGH: 0x0bc,
  CONFIG_GENERATION: 0x0fc,
  CONFIG: 0x100,
} as const;

/** "virt" read as a little-endian u32. */
export const MMIO_MAGIC = 0x74726976;
/** The virtio-mmio register layout version (2: the modern interface, virtio 1.2 §4.2.2). */
export const MMIO_VERSION = 2;
/** Our vendor id: the bytes "FHNT" read as a little-endian u32. */
export const FREEHINT_VENDOR_ID = 0x544e4846;
/** Bytes of register space the transport decodes: registers plus up to 3840 bytes of config. */
export const MMIO_WINDOW = 0x1000;

/** Accesses the spec tells a driver not to make; the transport ignores and counts them. */
export interface MmioCounters {
  /** A control register accessed with a width other than 4, or config with a width not 1/2/4. */
  badWidth: number;
  /** A read of a write-only register, or of an offset that is no register. */
  badRead: number;
  /** A write to a read-only register, or to an offset that is no register. */
  badWrite: number;
  /** A queue register written while that queue is ready (§4.2.2.2), or for a queue that does not exist. */
  queueBusy: number;
}

/**
 * The virtio-mmio version 2 register file over a {@link VirtioDevice}. A VMM maps it at some
 * base address and forwards `read(offset, size)` / `write(offset, size, value)` from its MMIO
 * dispatch; the interrupt line is `device.irqLevel$`. Nothing a guest writes makes it throw.
 */
export class MmioTransport {
  readonly counters: MmioCounters = { badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 };
  private deviceFeaturesSel = 0;
  private driverFeaturesSel = 0;
  private queueSel = 0;

  constructor(
    readonly device: VirtioDevice,
    readonly vendorId: number = FREEHINT_VENDOR_ID,
  ) {}

  /** A guest read of `size` bytes at `offset` into the window; unsupported reads return 0. */
  read(offset: number, size: number): number {
    if (offset >= MmioReg.CONFIG) {
      if (size !== 1 && size !== 2 && size !== 4) return this.bad('badWidth');
      return this.device.readConfig(offset - MmioReg.CONFIG, size);
    }
    if (size !== 4 || offset % 4 !== 0) return this.bad('badWidth');
    const d = this.device;
    const q = d.queues[this.queueSel];
    switch (offset) {
      case MmioReg.MAGIC_VALUE:
        return MMIO_MAGIC;
      case MmioReg.VERSION:
        return MMIO_VERSION;
      case MmioReg.DEVICE_ID:
        return d.deviceId;
      case MmioReg.VENDOR_ID:
        return this.vendorId >>> 0;
      case MmioReg.DEVICE_FEATURES:
        return d.readDeviceFeatures(this.deviceFeaturesSel);
      case MmioReg.QUEUE_NUM_MAX:
        // 0 means "no such queue" (§4.2.2).
        return q?.maxSize ?? 0;
      case MmioReg.QUEUE_READY:
        return q?.ready ? 1 : 0;
      case MmioReg.INTERRUPT_STATUS:
        return d.interruptStatus;
      case MmioReg.STATUS:
        return d.status;
      case MmioReg.SHM_LEN_LOW:
      case MmioReg.SHM_LEN_HIGH:
      case MmioReg.SHM_BASE_LOW:
      case MmioReg.SHM_BASE_HIGH:
        // No shared memory regions: length and base read as all ones (§4.2.2).
        return 0xffffffff;
      case MmioReg.CONFIG_GENERATION:
        return d.configGeneration;
      default:
        return this.bad('badRead');
    }
  }

  /** A guest write of `size` bytes at `offset`; unsupported writes are ignored and counted. */
  write(offset: number, size: number, value: number): void {
    value = value >>> 0;
    if (offset >= MmioReg.CONFIG) {
      if (size !== 1 && size !== 2 && size !== 4) {
        this.bad('badWidth');
        return;
      }
      this.device.writeConfig(offset - MmioReg.CONFIG, size, value);
      return;
    }
    if (size !== 4 || offset % 4 !== 0) {
      this.bad('badWidth');
      return;
    }
    const d = this.device;
    switch (offset) {
      case MmioReg.DEVICE_FEATURES_SEL:
        this.deviceFeaturesSel = value;
        return;
      case MmioReg.DRIVER_FEATURES:
        d.writeDriverFeatures(this.driverFeaturesSel, value);
        return;
      case MmioReg.DRIVER_FEATURES_SEL:
        this.driverFeaturesSel = value;
        return;
      case MmioReg.QUEUE_SEL:
        this.queueSel = value;
        return;
      case MmioReg.QUEUE_NUM:
        this.setQueueField((q) => (q.size = value));
        return;
      case MmioReg.QUEUE_READY: {
        if (d.queues[this.queueSel] === undefined) this.bad('queueBusy');
        else d.setQueueReady(this.queueSel, (value & 1) === 1);
        return;
      }
      case MmioReg.QUEUE_NOTIFY:
        d.notify(value);
        return;
      case MmioReg.INTERRUPT_ACK:
        d.ackInterrupt(value);
        return;
      case MmioReg.STATUS:
        if (d.writeStatus(value)) this.resetSelectors();
        return;
      case MmioReg.QUEUE_DESC_LOW:
        this.setQueueField((q) => (q.descTable = setLow(q.descTable, value)));
        return;
      case MmioReg.QUEUE_DESC_HIGH:
        this.setQueueField((q) => (q.descTable = setHigh(q.descTable, value)));
        return;
      case MmioReg.QUEUE_DRIVER_LOW:
        this.setQueueField((q) => (q.availRing = setLow(q.availRing, value)));
        return;
      case MmioReg.QUEUE_DRIVER_HIGH:
        this.setQueueField((q) => (q.availRing = setHigh(q.availRing, value)));
        return;
      case MmioReg.QUEUE_DEVICE_LOW:
        this.setQueueField((q) => (q.usedRing = setLow(q.usedRing, value)));
        return;
      case MmioReg.QUEUE_DEVICE_HIGH:
        this.setQueueField((q) => (q.usedRing = setHigh(q.usedRing, value)));
        return;
      case MmioReg.SHM_SEL:
        return;
      default:
        this.bad('badWrite');
    }
  }

  /** The selectors, as plain data (the device's state is saved by the device). */
  save(): MmioTransportState {
    const { deviceFeaturesSel, driverFeaturesSel, queueSel } = this;
    return { format: 'virtio-mmio', version: 1, deviceFeaturesSel, driverFeaturesSel, queueSel };
  }

  /** Resume from {@link save}: checked whole first (a StateError changes nothing). */
  restore(state: unknown): void {
    const parsed = parseMmioState(state);
    this.deviceFeaturesSel = parsed.deviceFeaturesSel;
    this.driverFeaturesSel = parsed.driverFeaturesSel;
    this.queueSel = parsed.queueSel;
  }

  private setQueueField(set: (q: VirtioDevice['queues'][number]) => void): void {
    const q = this.device.queues[this.queueSel];
    // §4.2.2.2: size and addresses are fixed while the queue is ready.
    if (q === undefined || q.ready) {
      this.bad('queueBusy');
      return;
    }
    set(q);
  }

  private resetSelectors(): void {
    this.deviceFeaturesSel = this.driverFeaturesSel = this.queueSel = 0;
  }

  private bad(kind: keyof MmioCounters): number {
    this.counters[kind]++;
    return 0;
  }
}
