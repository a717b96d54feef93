import { describe, expect, it } from 'vitest';
import { layoutRing } from '../../src/guest/driver-queue.js';
import { PciDriver } from '../../src/guest/pci-driver.js';
import { BalloonDevice } from '../../src/virtio/balloon/balloon-device.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import { PciLayout } from '../../src/virtio/transport/pci.js';
import { attachToV86, type V86Emulator } from '../../src/vmm/v86.js';
import { ScratchDevice } from '../support/scratch-device.js';

const MIB = 1 << 20;

/** Just enough of a v86 emulator, whose RAM lives in a WebAssembly memory that can grow. */
function fakeEmulator(memorySize: number): { emulator: V86Emulator; grow(): void } {
  const cpu = {
    mem8: new Uint8Array(memorySize),
    jit_dirty_cache: (): void => {},
    io: { register_read: (): void => {}, register_write: (): void => {} },
    devices: { pci: { register_device: (): void => {}, raise_irq: (): void => {}, lower_irq: (): void => {} } },
  };
  return {
    emulator: { v86: { cpu } },
    grow: () => {
      // Growing moves the bytes to a new buffer and detaches the old one; v86 then points its
      // views at the new one.
      cpu.mem8 = new Uint8Array(structuredClone(cpu.mem8.buffer, { transfer: [cpu.mem8.buffer] }));
    },
  };
}

describe('v86 guest memory', () => {
  it('follows RAM when the WebAssembly memory grows, also for pages the device used just before', () => {
    const { emulator, grow } = fakeEmulator(4 * MIB);
    const { memory } = attachToV86(emulator, (m) => new ScratchDevice(m, [8]), { memorySize: 4 * MIB });
    const ring = 2 * MIB;
    // Scalar accesses, as a ring is used: the page is now one the device touched lately.
    memory.writeU16(ring, 7);
    memory.writeU32(ring + 4, 0xdeadbeef);
    grow();
    expect(memory.readU16(ring)).toBe(7);
    expect(memory.readU32(ring + 4)).toBe(0xdeadbeef);
    memory.writeU16(ring, 8);
    expect(emulator.v86.cpu.mem8[ring]).toBe(8);
    expect(memory.readU16(ring)).toBe(8);
  });
});

describe('v86 deferred work', () => {
  it('serves what a kick left for later in later tasks, until nothing is left', async () => {
    const writes = new Map<number, (value: number) => void>();
    const { emulator } = fakeEmulator(32 * MIB);
    const cpu = emulator.v86.cpu as unknown as { io: { register_write: (port: number, device: object, w8: unknown, w16: (v: number) => void) => void } };
    cpu.io.register_write = (port, _device, _w8, w16) => void writes.set(port, w16);
    const { device, transport, memory } = attachToV86(emulator, (m) => new BalloonDevice(m, {}), { memorySize: 32 * MIB, ioBase: 0xc800 });
    const driver = new PciDriver(transport, memory);
    driver.probe();
    driver.negotiate((offered) => offered & ~featureBit(Feature.EVENT_IDX));
    const layout = layoutRing(0x10000, 128);
    driver.setupQueue(0, layout);
    driver.driverOk();
    // 128 inflate chains of 1024 PFNs each: more than one kick's budget.
    for (let i = 0; i < 1024; i++) memory.writeU32(0x400000 + 4 * i, 0x800 + i);
    memory.writeU64(layout.descTable, 0x400000);
    memory.writeU32(layout.descTable + 8, 4096);
    for (let i = 0; i < 128; i++) memory.writeU16(layout.availRing + 4 + 2 * i, 0);
    memory.writeU16(layout.availRing + 2, 128);
    writes.get(0xc800 + PciLayout.NOTIFY)!(0);
    expect(device.hasDeferredWork).toBe(true);
    const first = memory.readU16(layout.usedRing + 2);
    expect(first).toBeLessThan(128);
    for (let i = 0; i < 100 && device.hasDeferredWork; i++) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(device.hasDeferredWork).toBe(false);
    expect(memory.readU16(layout.usedRing + 2)).toBe(128);
  });
});
