/** The guest's virtio-mmio transport driver (Linux's virtio_mmio.c). */
import type { GuestMemory } from '../memory/guest-memory.js';
import { Status } from '../virtio/constants.js';
import { MMIO_MAGIC, MmioReg } from '../virtio/transport/mmio.js';
import { DriverQueue, type DriverQueueOptions, type RingLayout } from './driver-queue.js';
import type { DriverVirtqueue } from './driver-virtqueue.js';
import { PackedDriverQueue, type PackedDriverQueueOptions, type PackedRingLayout } from './packed-driver-queue.js';
import { negotiateFeatures, readConfigConsistently, type TransportDriver } from './transport-driver.js';

/** What a guest sees of an MMIO window: register reads and writes. */
export interface MmioBus {
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

/**
 * The guest's virtio-mmio transport driver, as Linux's virtio_mmio.c does it: probe, feature
 * negotiation, queue setup, kicks, interrupt acks and generation-checked config reads. It only
 * touches registers and guest memory, never the device object.
 */
export class MmioDriver implements TransportDriver {
  constructor(
    private readonly bus: MmioBus,
    private readonly memory: GuestMemory,
  ) {}

  /** Magic, version 2 and a non-placeholder device id (§4.2.3.1.1). */
  probe(): { deviceId: number; vendorId: number } | undefined {
    if (this.bus.read(MmioReg.MAGIC_VALUE, 4) !== MMIO_MAGIC || this.bus.read(MmioReg.VERSION, 4) !== 2) return undefined;
    const deviceId = this.bus.read(MmioReg.DEVICE_ID, 4);
    if (deviceId === 0) return undefined;
    return { deviceId, vendorId: this.bus.read(MmioReg.VENDOR_ID, 4) };
  }

  get status(): number {
    return this.bus.read(MmioReg.STATUS, 4);
  }

  reset(): void {
    this.bus.write(MmioReg.STATUS, 4, 0);
  }

  /** OR `bits` into the status, as Linux's virtio_add_status does. */
  addStatus(bits: number): void {
    this.bus.write(MmioReg.STATUS, 4, this.status | bits);
  }

  deviceFeatures(): bigint {
    let features = 0n;
    for (let sel = 0; sel < 2; sel++) {
      this.bus.write(MmioReg.DEVICE_FEATURES_SEL, 4, sel);
      features |= BigInt(this.bus.read(MmioReg.DEVICE_FEATURES, 4) >>> 0) << BigInt(32 * sel);
    }
    return features;
  }

  negotiate(wanted: bigint | ((offered: bigint) => bigint)): bigint | undefined {
    return negotiateFeatures(this, wanted);
  }

  writeFeatures(features: bigint): void {
    for (let sel = 0; sel < 2; sel++) {
      this.bus.write(MmioReg.DRIVER_FEATURES_SEL, 4, sel);
      this.bus.write(MmioReg.DRIVER_FEATURES, 4, Number((features >> BigInt(32 * sel)) & 0xffffffffn));
    }
  }

  /** QueueNumMax of queue `index` (0: the queue does not exist). */
  queueMaxSize(index: number): number {
    this.bus.write(MmioReg.QUEUE_SEL, 4, index);
    return this.bus.read(MmioReg.QUEUE_NUM_MAX, 4);
  }

  /** Set up queue `index` with a split ring at `layout` (§4.2.3.2) and return its driver side. */
  setupQueue<T>(index: number, layout: RingLayout, options: DriverQueueOptions = {}): DriverQueue<T> {
    return this.program(index, layout.size, [layout.descTable, layout.availRing, layout.usedRing], () => new DriverQueue<T>(this.memory, layout, options));
  }

  /** Set up queue `index` with a packed ring at `layout` (VIRTIO_F_RING_PACKED negotiated) and return its driver side. */
  setupPackedQueue<T>(index: number, layout: PackedRingLayout, options: PackedDriverQueueOptions = {}): PackedDriverQueue<T> {
    return this.program(index, layout.size, [layout.descRing, layout.driverEvent, layout.deviceEvent], () => new PackedDriverQueue<T>(this.memory, layout, options));
  }

  /** Select, check, initialise the rings (`make`), then write the size and the Descriptor, Driver and Device Areas, and enable. */
  private program<Q>(index: number, size: number, areas: readonly [number, number, number], make: () => Q): Q {
    this.bus.write(MmioReg.QUEUE_SEL, 4, index);
    if (this.bus.read(MmioReg.QUEUE_READY, 4) !== 0) throw new Error(`queue ${index} is already in use`);
    const max = this.bus.read(MmioReg.QUEUE_NUM_MAX, 4);
    if (max === 0 || size > max) throw new Error(`queue ${index} allows ${max} entries, wanted ${size}`);
    const queue = make();
    this.bus.write(MmioReg.QUEUE_NUM, 4, size);
    const pairs = [
      [MmioReg.QUEUE_DESC_LOW, areas[0]],
      [MmioReg.QUEUE_DRIVER_LOW, areas[1]],
      [MmioReg.QUEUE_DEVICE_LOW, areas[2]],
    ] as const;
    for (const [low, gpa] of pairs) {
      this.bus.write(low, 4, gpa % 0x1_0000_0000);
      this.bus.write(low + 4, 4, Math.floor(gpa / 0x1_0000_0000));
    }
    this.bus.write(MmioReg.QUEUE_READY, 4, 1);
    return queue;
  }

  driverOk(): void {
    this.addStatus(Status.DRIVER_OK);
  }

  /** Kick queue `index` if its driver side says the device wants one. Returns whether it did. */
  kick(index: number, queue: DriverVirtqueue<unknown>): boolean {
    if (!queue.kickNeeded()) return false;
    this.bus.write(MmioReg.QUEUE_NOTIFY, 4, index);
    return true;
  }

  /** Read and acknowledge the interrupt status (what an interrupt handler does first). */
  takeInterrupts(): number {
    const isr = this.bus.read(MmioReg.INTERRUPT_STATUS, 4);
    if (isr !== 0) this.bus.write(MmioReg.INTERRUPT_ACK, 4, isr);
    return isr;
  }

  /** A consistent le32 config read: retried until the generation is stable (§2.5.1). */
  readConfig32(offset: number): number {
    return readConfigConsistently(
      () => this.bus.read(MmioReg.CONFIG_GENERATION, 4),
      () => this.bus.read(MmioReg.CONFIG + offset, 4),
    );
  }

  writeConfig32(offset: number, value: number): void {
    this.bus.write(MmioReg.CONFIG + offset, 4, value);
  }
}
