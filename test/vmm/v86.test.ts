import { describe, expect, it } from 'vitest';
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
