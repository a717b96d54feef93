/** The guest's virtio-pci modern transport driver (Linux's virtio_pci_modern). */
import type { GuestMemory } from '../memory/guest-memory.js';
import { Status } from '../virtio/constants.js';
import { CommonCfg, PCI_VENDOR_VIRTIO, PciCapType } from '../virtio/transport/pci.js';
import { DriverQueue, type DriverQueueOptions, type RingLayout } from './driver-queue.js';
import type { DriverVirtqueue } from './driver-virtqueue.js';
import { PackedDriverQueue, type PackedDriverQueueOptions, type PackedRingLayout } from './packed-driver-queue.js';
import { negotiateFeatures, readConfigConsistently, type TransportDriver } from './transport-driver.js';

/** What a guest sees of a PCI function: configuration cycles and I/O on its BAR 0. */
export interface PciBus {
  readConfig(offset: number, size: number): number;
  writeConfig(offset: number, size: number, value: number): void;
  readBar(offset: number, size: number): number;
  writeBar(offset: number, size: number, value: number): void;
}

/** Where the driver found each structure: offsets within BAR 0, and the notify multiplier. */
interface Structures {
  common: number;
  isr: number;
  /** Absent when the function has no device-specific structure (it is optional, §4.1.4.6). */
  device: number | undefined;
  notify: number;
  notifyMultiplier: number;
}

/**
 * The guest's virtio-pci modern driver, as Linux's virtio_pci_modern does it: walk the
 * capability list for the common, ISR, device and notify structures, then negotiate, set up
 * queues, kick and take interrupts through them. It only touches configuration space, I/O and
 * guest memory.
 */
export class PciDriver implements TransportDriver {
  private structures: Structures | undefined;

  constructor(
    private readonly bus: PciBus,
    private readonly memory: GuestMemory,
  ) {}

  /** A virtio vendor id, a modern device id, and every structure found (vp_modern_probe). */
  probe(): { deviceId: number } | undefined {
    if (this.bus.readConfig(0x00, 2) !== PCI_VENDOR_VIRTIO) return undefined;
    const pciDevice = this.bus.readConfig(0x02, 2);
    if (pciDevice < 0x1040 || pciDevice > 0x107f) return undefined;
    const found: Partial<Structures> = {};
    // The list is guest-visible data: bound the walk (48 capabilities fit in 192 bytes).
    for (let at = this.bus.readConfig(0x34, 1) & 0xfc, n = 0; at !== 0 && n < 48; at = this.bus.readConfig(at + 1, 1) & 0xfc, n++) {
      if (this.bus.readConfig(at, 1) !== 0x09 || this.bus.readConfig(at + 4, 1) !== 0) continue;
      const offset = this.bus.readConfig(at + 8, 4);
      switch (this.bus.readConfig(at + 3, 1)) {
        case PciCapType.COMMON:
          found.common ??= offset;
          break;
        case PciCapType.ISR:
          found.isr ??= offset;
          break;
        case PciCapType.DEVICE:
          found.device ??= offset;
          break;
        case PciCapType.NOTIFY:
          found.notify ??= offset;
          found.notifyMultiplier ??= this.bus.readConfig(at + 16, 4);
          break;
      }
    }
    if (found.common === undefined || found.isr === undefined || found.notify === undefined) return undefined;
    this.structures = { common: found.common, isr: found.isr, device: found.device, notify: found.notify, notifyMultiplier: found.notifyMultiplier ?? 0 };
    // Enable I/O decoding (pci_enable_device).
    this.bus.writeConfig(0x04, 2, this.bus.readConfig(0x04, 2) | 1);
    return { deviceId: pciDevice - 0x1040 };
  }

  /** Where the device-specific configuration is. */
  private deviceConfig(): number {
    const at = this.s.device;
    if (at === undefined) throw new Error('the device has no device-specific configuration');
    return at;
  }

  private get s(): Structures {
    if (this.structures === undefined) throw new Error('probe the device first');
    return this.structures;
  }

  private common(field: keyof typeof CommonCfg, size: number, value?: number): number {
    const at = this.s.common + CommonCfg[field];
    if (value === undefined) return this.bus.readBar(at, size);
    this.bus.writeBar(at, size, value);
    return value;
  }

  get status(): number {
    return this.common('DEVICE_STATUS', 1);
  }

  reset(): void {
    this.common('DEVICE_STATUS', 1, 0);
  }

  addStatus(bits: number): void {
    this.common('DEVICE_STATUS', 1, this.status | bits);
  }

  deviceFeatures(): bigint {
    let features = 0n;
    for (let sel = 0; sel < 2; sel++) {
      this.common('DEVICE_FEATURE_SELECT', 4, sel);
      features |= BigInt(this.common('DEVICE_FEATURE', 4) >>> 0) << BigInt(32 * sel);
    }
    return features;
  }

  writeFeatures(features: bigint): void {
    for (let sel = 0; sel < 2; sel++) {
      this.common('DRIVER_FEATURE_SELECT', 4, sel);
      this.common('DRIVER_FEATURE', 4, Number((features >> BigInt(32 * sel)) & 0xffffffffn));
    }
  }

  negotiate(wanted: bigint | ((offered: bigint) => bigint)): bigint | undefined {
    return negotiateFeatures(this, wanted);
  }

  queueMaxSize(index: number): number {
    if (index >= this.common('NUM_QUEUES', 2)) return 0;
    this.common('QUEUE_SELECT', 2, index);
    return this.common('QUEUE_SIZE', 2);
  }

  setupQueue<T>(index: number, layout: RingLayout, options: DriverQueueOptions = {}): DriverQueue<T> {
    return this.program(index, layout.size, [layout.descTable, layout.availRing, layout.usedRing], () => new DriverQueue<T>(this.memory, layout, options));
  }

  setupPackedQueue<T>(index: number, layout: PackedRingLayout, options: PackedDriverQueueOptions = {}): PackedDriverQueue<T> {
    return this.program(index, layout.size, [layout.descRing, layout.driverEvent, layout.deviceEvent], () => new PackedDriverQueue<T>(this.memory, layout, options));
  }

  /** Select, check, initialise the rings (`make`), then write the size and the Descriptor, Driver and Device Areas, and enable (vp_modern setup_vq). */
  private program<Q>(index: number, size: number, areas: readonly [number, number, number], make: () => Q): Q {
    const max = this.queueMaxSize(index);
    if (max === 0 || size > max) throw new Error(`queue ${index} allows ${max} entries, wanted ${size}`);
    if (this.common('QUEUE_ENABLE', 2) !== 0) throw new Error(`queue ${index} is already in use`);
    const queue = make();
    this.common('QUEUE_SIZE', 2, size);
    const pairs = [
      ['QUEUE_DESC', areas[0]],
      ['QUEUE_DRIVER', areas[1]],
      ['QUEUE_DEVICE', areas[2]],
    ] as const;
    for (const [field, gpa] of pairs) {
      this.bus.writeBar(this.s.common + CommonCfg[field], 4, gpa % 0x1_0000_0000);
      this.bus.writeBar(this.s.common + CommonCfg[field] + 4, 4, Math.floor(gpa / 0x1_0000_0000));
    }
    this.common('QUEUE_ENABLE', 2, 1);
    return queue;
  }

  driverOk(): void {
    this.addStatus(Status.DRIVER_OK);
  }

  kick(index: number, queue: DriverVirtqueue<unknown>): boolean {
    if (!queue.kickNeeded()) return false;
    this.common('QUEUE_SELECT', 2, index);
    const notifyOff = this.common('QUEUE_NOTIFY_OFF', 2);
    this.bus.writeBar(this.s.notify + notifyOff * this.s.notifyMultiplier, 2, index);
    return true;
  }

  /** Reading the ISR acknowledges it (§4.1.4.5). */
  takeInterrupts(): number {
    return this.bus.readBar(this.s.isr, 1);
  }

  readConfig32(offset: number): number {
    return readConfigConsistently(
      () => this.common('CONFIG_GENERATION', 1),
      () => this.bus.readBar(this.deviceConfig() + offset, 4),
    );
  }

  writeConfig32(offset: number, value: number): void {
    this.bus.writeBar(this.deviceConfig() + offset, 4, value);
  }
}
