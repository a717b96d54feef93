/**
 * Plug a freehint device into a running v86 emulator (exactly v86 0.5.462: this uses its
 * internals, which its build keeps by name). The device sits behind freehint's virtio-pci
 * transport: a PCI function whose configuration space v86 serves, an I/O BAR whose ports call
 * the transport, and INTA# raised and lowered through v86's PCI interrupt routing. Guest RAM is
 * v86's own memory, seen through a GuestMemory that tells v86's JIT about every device write.
 *
 * freehint does not depend on v86: pass the emulator object in.
 */
import { ChunkedMemory, type Chunk } from '../memory/chunked-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import type { VirtioDevice } from '../virtio/device.js';
import { PCI_BAR_SIZE, PciTransport } from '../virtio/transport/pci.js';

/** The parts of a v86 emulator (`new V86(...)`) this adapter uses. */
export interface V86Emulator {
  readonly v86: {
    readonly cpu: V86Cpu;
  };
}

interface V86Cpu {
  readonly mem8: Uint8Array;
  jit_dirty_cache(start: number, end: number): void;
  readonly io: {
    register_read(port: number, device: object, read8?: () => number, read16?: () => number, read32?: () => number): void;
    register_write(port: number, device: object, write8?: (value: number) => void, write16?: (value: number) => void, write32?: (value: number) => void): void;
  };
  readonly devices: {
    readonly pci: {
      register_device(device: V86PciDevice): void;
      raise_irq(pciId: number): void;
      lower_irq(pciId: number): void;
    };
  };
}

interface V86PciDevice {
  readonly name: string;
  readonly pci_id: number;
  readonly pci_space: Uint8Array;
  readonly pci_bars: ReadonlyArray<{ readonly size: number } | undefined>;
}

/** Where a PC's RAM is: below the VGA/BIOS hole and above 1 MiB. */
const LOW_RAM_END = 0xa0000;
const HIGH_RAM_START = 0x100000;

/**
 * Guest RAM in v86's memory. v86 keeps RAM in WebAssembly memory, whose buffer is replaced
 * when it grows, so the views follow `cpu.mem8`; writes mark v86's compiled code for those
 * bytes stale.
 */
class V86Memory extends ChunkedMemory {
  private chunks: Chunk[] = [];
  private viewsOf: ArrayBufferLike | undefined;

  constructor(
    private readonly cpu: V86Cpu,
    memorySize: number,
  ) {
    super([
      { gpa: 0, size: LOW_RAM_END },
      { gpa: HIGH_RAM_START, size: memorySize - HIGH_RAM_START },
    ]);
  }

  protected chunkAt(gpa: number): Chunk {
    const mem8 = this.cpu.mem8;
    if (mem8.buffer !== this.viewsOf) {
      this.viewsOf = mem8.buffer;
      this.chunks = this.regions.map((r) => {
        const bytes = new Uint8Array(mem8.buffer, mem8.byteOffset + r.gpa, r.size);
        return { gpa: r.gpa, bytes, view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
      });
    }
    return gpa < LOW_RAM_END ? this.chunks[0]! : this.chunks[1]!;
  }

  protected discardRange(gpa: number, length: number): void {
    // RAM ranges never span the hole, so one chunk holds the whole range.
    const chunk = this.chunkAt(gpa);
    chunk.bytes.fill(0, gpa - chunk.gpa, gpa - chunk.gpa + length);
    this.cpu.jit_dirty_cache(gpa, gpa + length);
  }

  protected override markDirty(gpa: number, length: number): void {
    super.markDirty(gpa, length);
    if (length > 0) this.cpu.jit_dirty_cache(gpa, gpa + length);
  }
}

/** A device attached to v86: the device, its pci transport, and how to take it off. */
export interface AttachedDevice<D extends VirtioDevice> {
  readonly device: D;
  readonly transport: PciTransport;
  readonly memory: GuestMemory;
  /** Stop driving the interrupt line (the emulator is being destroyed). */
  detach(): void;
}

/** Where to attach a device in v86. */
export interface AttachOptions {
  /** v86's `memory_size`. */
  readonly memorySize: number;
  /** PCI slot (device number on bus 0); v86's own devices use the low slots. */
  readonly slot?: number;
  /** Where BAR 0 starts until the firmware moves it. */
  readonly ioBase?: number;
  readonly name?: string;
}

/**
 * Register `makeDevice(memory)` as a PCI device in `emulator`. Call after the emulator's
 * `emulator-ready` event and before it runs the guest (the firmware enumerates PCI at boot).
 */
export function attachToV86<D extends VirtioDevice>(emulator: V86Emulator, makeDevice: (memory: GuestMemory) => D, options: AttachOptions): AttachedDevice<D> {
  const cpu = emulator.v86.cpu;
  const memory = new V86Memory(cpu, options.memorySize);
  const device = makeDevice(memory);
  const transport = new PciTransport(device);
  const pciId = (options.slot ?? 0x0c) << 3;
  const ioBase = options.ioBase ?? 0xc800;
  const space = transport.config.slice();
  new DataView(space.buffer).setUint32(0x10, ioBase | 1, true);
  const pciDevice: V86PciDevice = { name: options.name ?? 'freehint', pci_id: pciId, pci_space: space, pci_bars: [{ size: PCI_BAR_SIZE }] };
  // Work a kick left for later (its budget ran out) goes on in a later task, as a bottom half.
  let attached = true;
  let scheduled = false;
  const serveLater = (): void => {
    if (scheduled || !attached || !device.hasDeferredWork) return;
    scheduled = true;
    setTimeout(() => {
      scheduled = false;
      if (attached) device.serveDeferred();
      serveLater();
    }, 0);
  };
  const write =
    (offset: number, size: number) =>
    (value: number): void => {
      transport.writeBar(offset, size, value);
      serveLater();
    };
  // v86 copies a BAR's port handlers when the firmware moves it: register them first.
  for (let offset = 0; offset < PCI_BAR_SIZE; offset++) {
    const port = ioBase + offset;
    cpu.io.register_read(
      port,
      pciDevice,
      () => transport.readBar(offset, 1),
      () => transport.readBar(offset, 2),
      () => transport.readBar(offset, 4),
    );
    cpu.io.register_write(port, pciDevice, write(offset, 1), write(offset, 2), write(offset, 4));
  }
  cpu.devices.pci.register_device(pciDevice);
  const subscription = transport.intx$.subscribe((high) => (high ? cpu.devices.pci.raise_irq(pciId) : cpu.devices.pci.lower_irq(pciId)));
  const detach = (): void => {
    attached = false;
    subscription.unsubscribe();
  };
  return { device, transport, memory, detach };
}
