/** The virtio-pci modern transport (virtio 1.2 §4.1): configuration space and the structures in BAR 0. */
import { map, type Observable, combineLatest, BehaviorSubject, distinctUntilChanged } from 'rxjs';
import type { VirtioDevice } from '../device.js';
import { setHigh, setLow } from './address.js';
import { PCI_COMMAND_WRITABLE, parsePciState, type PciTransportState } from './transport-state.js';

/** virtio over PCI (virtio 1.2 §4.1), modern: the device's structures in one I/O BAR. */

export const PCI_VENDOR_VIRTIO = 0x1af4;
/** Modern device ids are 0x1040 + the virtio device id. */
export const PCI_DEVICE_ID_BASE = 0x1040;
/** One 256-byte I/O BAR holds every structure (v86 and SeaBIOS relocate I/O BARs). */
export const PCI_BAR_SIZE = 0x100;

/** virtio_pci_cap.cfg_type (§4.1.4). */
export const PciCapType = { COMMON: 1, NOTIFY: 2, ISR: 3, DEVICE: 4 } as const;

/** Where each structure sits in BAR 0. */
export const PciLayout = {
  COMMON: 0x00,
  COMMON_LENGTH: 0x38,
  ISR: 0x38,
  DEVICE: 0x40,
  DEVICE_LENGTH: 0x40,
  NOTIFY: 0x80,
  /** queue_notify_off × this = a queue's notify offset. */
  NOTIFY_MULTIPLIER: 2,
} as const;

/** The common configuration structure (§4.1.4.3). */
export const CommonCfg = {
  DEVICE_FEATURE_SELECT: 0x00,
  DEVICE_FEATURE: 0x04,
  DRIVER_FEATURE_SELECT: 0x08,
  DRIVER_FEATURE: 0x0c,
  MSIX_CONFIG: 0x10,
  NUM_QUEUES: 0x12,
  DEVICE_STATUS: 0x14,
  CONFIG_GENERATION: 0x15,
  QUEUE_SELECT: 0x16,
  QUEUE_SIZE: 0x18,
  QUEUE_MSIX_VECTOR: 0x1a,
  QUEUE_ENABLE: 0x1c,
  QUEUE_NOTIFY_OFF: 0x1e,
  QUEUE_DESC: 0x20,
  QUEUE_DRIVER: 0x28,
  QUEUE_DEVICE: 0x30,
} as const;

/** No MSI-X: vector fields read as VIRTIO_MSI_NO_VECTOR and the device uses INTx. */
const NO_VECTOR = 0xffff;
/** PCI command register bits. */
const COMMAND_IO = 1 << 0;
const COMMAND_INTX_DISABLE = 1 << 10;
/** PCI status register bits. */
const STATUS_INTERRUPT = 1 << 3;
const STATUS_CAPABILITIES = 1 << 4;
const FIRST_CAP = 0x40;

/** Accesses a driver should not make; ignored and counted. */
export interface PciCounters {
  badWidth: number;
  badRead: number;
  badWrite: number;
  queueBusy: number;
}

const U32 = 0x1_0000_0000;

/**
 * The virtio-pci modern transport over a {@link VirtioDevice}: a type 0 PCI configuration space
 * with vendor capabilities for the common, notify, ISR and device structures, all in I/O BAR 0,
 * and INTx. A VMM forwards configuration cycles to `readConfig`/`writeConfig`, I/O to
 * `readBar`/`writeBar` (offsets within the BAR), and drives INTA# from `intx$`. Nothing a guest
 * does makes it throw.
 */
export class PciTransport {
  readonly counters: PciCounters = { badWidth: 0, badRead: 0, badWrite: 0, queueBusy: 0 };
  /** The 256 bytes of PCI configuration space. */
  readonly config = new Uint8Array(256);
  /** INTA# as the guest should see it: the device's line, unless the driver disabled INTx. */
  readonly intx$: Observable<boolean>;
  private readonly view = new DataView(this.config.buffer);
  private readonly command$ = new BehaviorSubject(0);
  private deviceFeatureSelect = 0;
  private driverFeatureSelect = 0;
  private queueSelect = 0;
  // Stryker disable next-line BooleanLiteral: overwritten in the constructor, where irqLevel$ (a BehaviorSubject) replays the line at once
  private level = false;

  constructor(readonly device: VirtioDevice) {
    const v = this.view;
    v.setUint16(0x00, PCI_VENDOR_VIRTIO, true);
    v.setUint16(0x02, PCI_DEVICE_ID_BASE + device.deviceId, true);
    v.setUint16(0x06, STATUS_CAPABILITIES, true);
    v.setUint8(0x08, 1); // revision 1: a modern device
    v.setUint8(0x0b, 0xff); // class: other (as QEMU's balloon)
    v.setUint32(0x10, 1, true); // BAR 0: I/O space
    v.setUint16(0x2c, PCI_VENDOR_VIRTIO, true);
    v.setUint16(0x2e, 0x40, true); // subsystem id ≥ 0x40: modern
    v.setUint8(0x34, FIRST_CAP);
    v.setUint8(0x3d, 1); // INTA#
    const caps: Array<[type: number, offset: number, length: number]> = [
      [PciCapType.COMMON, PciLayout.COMMON, PciLayout.COMMON_LENGTH],
      [PciCapType.ISR, PciLayout.ISR, 1],
      [PciCapType.DEVICE, PciLayout.DEVICE, PciLayout.DEVICE_LENGTH],
      [PciCapType.NOTIFY, PciLayout.NOTIFY, PciLayout.NOTIFY_MULTIPLIER * Math.max(1, device.queues.length)],
    ];
    let at = FIRST_CAP;
    caps.forEach(([type, offset, length], i) => {
      const size = type === PciCapType.NOTIFY ? 20 : 16;
      const next = i === caps.length - 1 ? 0 : at + size;
      v.setUint8(at, 0x09); // vendor-specific
      v.setUint8(at + 1, next);
      v.setUint8(at + 2, size);
      v.setUint8(at + 3, type);
      v.setUint8(at + 4, 0); // BAR 0
      v.setUint32(at + 8, offset, true);
      v.setUint32(at + 12, length, true);
      // Stryker disable next-line ConditionalExpression: the notify cap is last, so for any other cap at + 16 is the next header, written after this
      if (type === PciCapType.NOTIFY) v.setUint32(at + 16, PciLayout.NOTIFY_MULTIPLIER, true);
      at = next;
    });
    this.intx$ = combineLatest([device.irqLevel$, this.command$]).pipe(
      map(([high, command]) => high && (command & COMMAND_INTX_DISABLE) === 0),
      distinctUntilChanged(),
    );
    // The interrupt status bit of the PCI status register follows the device's line.
    device.irqLevel$.subscribe((high) => {
      this.level = high;
      const status = v.getUint16(0x06, true);
      v.setUint16(0x06, high ? status | STATUS_INTERRUPT : status & ~STATUS_INTERRUPT, true);
    });
  }

  /** The I/O port base the guest programmed into BAR 0 (0 until it did). */
  get barAddress(): number {
    return this.view.getUint32(0x10, true) & 0xfffffffc;
  }

  /** Whether I/O decoding is on (the command register's I/O space bit). */
  get ioEnabled(): boolean {
    return (this.command$.value & COMMAND_IO) !== 0;
  }

  /** A configuration space read; out-of-range or misaligned reads return all ones, as no device would. */
  readConfig(offset: number, size: number): number {
    if (!aligned(offset, size) || offset + size > 256) return this.bad('badWidth', 0xffffffff);
    if (size === 1) return this.view.getUint8(offset);
    if (size === 2) return this.view.getUint16(offset, true);
    return this.view.getUint32(offset, true);
  }

  /** A configuration space write: the command register, BAR 0 (with sizing) and the interrupt line; the rest is read-only. */
  writeConfig(offset: number, size: number, value: number): void {
    if (!aligned(offset, size) || offset + size > 256) {
      this.bad('badWidth', 0);
      return;
    }
    for (let i = 0; i < size; i++) this.writeConfigByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  private writeConfigByte(offset: number, byte: number): void {
    if (offset === 0x04 || offset === 0x05) {
      this.config[offset] = byte;
      this.command$.next(this.view.getUint16(0x04, true) & PCI_COMMAND_WRITABLE);
      this.view.setUint16(0x04, this.command$.value, true);
    } else if (offset >= 0x10 && offset < 0x14) {
      this.config[offset] = byte;
      // An I/O BAR of 256 bytes: the low 8 bits are fixed (bit 0 says I/O), sizing reads back ~0xff | 1.
      this.view.setUint32(0x10, (this.view.getUint32(0x10, true) & ~(PCI_BAR_SIZE - 1)) | 1, true);
    } else if (offset === 0x3c) {
      this.config[offset] = byte; // the interrupt line, for the guest's own bookkeeping
    } else {
      this.counters.badWrite++;
    }
  }

  /** An I/O read at `offset` within BAR 0. */
  readBar(offset: number, size: number): number {
    if (!aligned(offset, size)) return this.bad('badWidth', 0);
    const d = this.device;
    if (offset >= PciLayout.DEVICE && offset + size <= PciLayout.DEVICE + PciLayout.DEVICE_LENGTH) return d.readConfig(offset - PciLayout.DEVICE, size);
    if (offset === PciLayout.ISR && size === 1) {
      // Reading the ISR acknowledges it and lowers the line (§4.1.4.5.1).
      const isr = d.interruptStatus;
      d.ackInterrupt(isr);
      return isr;
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut; commonField finds no field at or past COMMON_LENGTH, so the default case counts the same badRead
    if (offset >= PciLayout.COMMON_LENGTH) return this.bad('badRead', 0);
    const q = d.queues[this.queueSelect];
    const field = commonField(offset, size);
    switch (field) {
      case 'DEVICE_FEATURE_SELECT':
        return this.deviceFeatureSelect;
      case 'DEVICE_FEATURE':
        return d.readDeviceFeatures(this.deviceFeatureSelect);
      case 'DRIVER_FEATURE_SELECT':
        return this.driverFeatureSelect;
      case 'DRIVER_FEATURE':
        return d.readDriverFeatures(this.driverFeatureSelect);
      case 'MSIX_CONFIG':
      case 'QUEUE_MSIX_VECTOR':
        return NO_VECTOR;
      case 'NUM_QUEUES':
        return d.queues.length;
      case 'DEVICE_STATUS':
        return d.status;
      case 'CONFIG_GENERATION':
        return d.configGeneration & 0xff;
      case 'QUEUE_SELECT':
        return this.queueSelect;
      case 'QUEUE_SIZE':
        // 0: no such queue (§4.1.4.3.1).
        return q === undefined ? 0 : q.ready ? q.size : q.size || q.maxSize;
      case 'QUEUE_ENABLE':
        return q?.ready ? 1 : 0;
      case 'QUEUE_NOTIFY_OFF':
        return this.queueSelect;
      case 'QUEUE_DESC':
      case 'QUEUE_DRIVER':
      case 'QUEUE_DEVICE': {
        if (q === undefined) return 0;
        const address = field === 'QUEUE_DESC' ? q.descTable : field === 'QUEUE_DRIVER' ? q.availRing : q.usedRing;
        return offset % 8 === 0 ? (address % U32) >>> 0 : Math.floor(address / U32) >>> 0;
      }
      default:
        return this.bad('badRead', 0);
    }
  }

  /** An I/O write at `offset` within BAR 0. */
  writeBar(offset: number, size: number, value: number): void {
    value = value >>> 0;
    if (!aligned(offset, size)) {
      this.bad('badWidth', 0);
      return;
    }
    const d = this.device;
    if (offset >= PciLayout.DEVICE && offset + size <= PciLayout.DEVICE + PciLayout.DEVICE_LENGTH) {
      d.writeConfig(offset - PciLayout.DEVICE, size, value);
      return;
    }
    if (offset >= PciLayout.NOTIFY && offset < PciLayout.NOTIFY + PciLayout.NOTIFY_MULTIPLIER * d.queues.length && size === 2) {
      // The queue's notify address carries its index (without NOTIFICATION_DATA).
      d.notify((offset - PciLayout.NOTIFY) / PciLayout.NOTIFY_MULTIPLIER);
      return;
    }
    // Stryker disable next-line ConditionalExpression,EqualityOperator: a shortcut; commonField finds no field at or past COMMON_LENGTH either
    const field = offset < PciLayout.COMMON_LENGTH ? commonField(offset, size) : undefined;
    switch (field) {
      case 'DEVICE_FEATURE_SELECT':
        this.deviceFeatureSelect = value;
        return;
      case 'DRIVER_FEATURE_SELECT':
        this.driverFeatureSelect = value;
        return;
      case 'DRIVER_FEATURE':
        d.writeDriverFeatures(this.driverFeatureSelect, value);
        return;
      case 'MSIX_CONFIG':
      case 'QUEUE_MSIX_VECTOR':
        return; // no MSI-X: the write does not stick, the read says NO_VECTOR
      case 'DEVICE_STATUS':
        if (d.writeStatus(value)) this.deviceFeatureSelect = this.driverFeatureSelect = this.queueSelect = 0;
        return;
      case 'QUEUE_SELECT':
        this.queueSelect = value & 0xffff;
        return;
      case 'QUEUE_SIZE':
        this.setQueue((q) => (q.size = value & 0xffff));
        return;
      case 'QUEUE_ENABLE': {
        // §4.1.4.3.2: the driver only ever writes 1; 0 is no way to disable a queue.
        const q = d.queues[this.queueSelect];
        if ((value & 1) === 0 || q === undefined) {
          this.bad('queueBusy', 0);
          return;
        }
        // queue_size starts at the maximum (§4.1.4.3): a driver that keeps it never writes it.
        if (q.size === 0 && !q.ready) q.size = q.maxSize;
        d.setQueueReady(this.queueSelect, true);
        return;
      }
      case 'QUEUE_DESC':
      case 'QUEUE_DRIVER':
      case 'QUEUE_DEVICE': {
        const high = offset % 8 !== 0;
        const key = field === 'QUEUE_DESC' ? 'descTable' : field === 'QUEUE_DRIVER' ? 'availRing' : 'usedRing';
        this.setQueue((q) => (q[key] = high ? setHigh(q[key], value) : setLow(q[key], value)));
        return;
      }
      default:
        this.bad('badWrite', 0);
    }
  }

  /** The selectors and writable configuration registers, as plain data (the device saves its own). */
  save(): PciTransportState {
    return {
      format: 'virtio-pci',
      version: 1,
      deviceFeatureSelect: this.deviceFeatureSelect,
      driverFeatureSelect: this.driverFeatureSelect,
      queueSelect: this.queueSelect,
      command: this.command$.value,
      bar: this.view.getUint32(0x10, true),
      interruptLine: this.config[0x3c]!,
    };
  }

  /** Resume from {@link save}: checked whole first (a StateError changes nothing). */
  restore(state: unknown): void {
    const parsed = parsePciState(state);
    this.deviceFeatureSelect = parsed.deviceFeatureSelect;
    this.driverFeatureSelect = parsed.driverFeatureSelect;
    this.queueSelect = parsed.queueSelect;
    this.view.setUint32(0x10, parsed.bar, true);
    this.config[0x3c] = parsed.interruptLine;
    this.view.setUint16(0x04, parsed.command, true);
    this.command$.next(parsed.command);
  }

  /** INTA# right now. */
  get interruptLine(): boolean {
    return this.level && (this.command$.value & COMMAND_INTX_DISABLE) === 0;
  }

  private setQueue(set: (q: VirtioDevice['queues'][number]) => void): void {
    const q = this.device.queues[this.queueSelect];
    if (q === undefined || q.ready) {
      this.bad('queueBusy', 0);
      return;
    }
    set(q);
  }

  private bad(kind: keyof PciCounters, value: number): number {
    this.counters[kind]++;
    return value;
  }
}

type CommonField = keyof typeof CommonCfg;
const WIDTH: Record<CommonField, number> = {
  DEVICE_FEATURE_SELECT: 4,
  DEVICE_FEATURE: 4,
  DRIVER_FEATURE_SELECT: 4,
  DRIVER_FEATURE: 4,
  MSIX_CONFIG: 2,
  NUM_QUEUES: 2,
  DEVICE_STATUS: 1,
  CONFIG_GENERATION: 1,
  QUEUE_SELECT: 2,
  QUEUE_SIZE: 2,
  QUEUE_MSIX_VECTOR: 2,
  QUEUE_ENABLE: 2,
  QUEUE_NOTIFY_OFF: 2,
  QUEUE_DESC: 8,
  QUEUE_DRIVER: 8,
  QUEUE_DEVICE: 8,
};

/** The common-configuration field an access of `size` at `offset` names (64-bit fields in 32-bit halves), if any. */
function commonField(offset: number, size: number): CommonField | undefined {
  for (const [name, at] of Object.entries(CommonCfg) as Array<[CommonField, number]>) {
    const width = WIDTH[name];
    if (width === 8 ? size === 4 && (offset === at || offset === at + 4) : offset === at && size === width) return name;
  }
  return undefined;
}

function aligned(offset: number, size: number): boolean {
  return (size === 1 || size === 2 || size === 4) && Number.isInteger(offset) && offset >= 0 && offset % size === 0;
}
