/**
 * A real Debian guest in v86 with a freehint device on its PCI bus, driven over the serial
 * line: every step has a hard time limit, and a step that times out fails with what the guest
 * printed last, so a broken device fails the test instead of hanging it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { V86 } from 'v86';
import type { GuestMemory } from '../src/memory/guest-memory.js';
import type { VirtioDevice } from '../src/virtio/device.js';
import { attachToV86, type AttachedDevice, type V86Emulator } from '../src/vmm/v86.js';
import { commandEnd, GUEST_MEMORY, KERNEL_CMDLINE } from './boot-config.js';
import type { GuestAssets } from './build-assets.js';

export { GUEST_MEMORY };

export class LinuxGuest<D extends VirtioDevice> {
  private output = '';
  private commands = 0;
  private readonly emulator: V86;
  readonly bootStarted = performance.now();
  private attached: AttachedDevice<D> | undefined;

  private constructor(assets: GuestAssets, makeDevice: (memory: GuestMemory) => D, ready: (guest: LinuxGuest<D>) => void) {
    const v86Dir = dirname(createRequire(import.meta.url).resolve('v86'));
    this.emulator = new V86({
      wasm_path: join(v86Dir, 'v86.wasm'),
      bios: { buffer: bufferOf(readFileSync(assets.bios)) },
      bzimage: { buffer: bufferOf(readFileSync(assets.bzImage)) },
      initrd: { buffer: bufferOf(readFileSync(assets.initrd)) },
      cmdline: KERNEL_CMDLINE,
      memory_size: GUEST_MEMORY,
      autostart: false,
      disable_keyboard: true,
      disable_mouse: true,
    });
    this.emulator.add_listener('serial0-output-byte', (byte: number) => {
      this.output += String.fromCharCode(byte);
    });
    this.emulator.add_listener('emulator-ready', () => {
      this.attached = attachToV86(this.emulator as unknown as V86Emulator, makeDevice, { memorySize: GUEST_MEMORY });
      void this.emulator.run();
      ready(this);
    });
  }

  /** Boot the guest with `makeDevice(memory)` on its PCI bus. */
  static start<D extends VirtioDevice>(assets: GuestAssets, makeDevice: (memory: GuestMemory) => D): Promise<LinuxGuest<D>> {
    return new Promise((resolve) => new LinuxGuest(assets, makeDevice, resolve));
  }

  get device(): D {
    return this.attached!.device;
  }

  get memory(): GuestMemory {
    return this.attached!.memory;
  }

  /** Everything the guest printed so far. */
  get console(): string {
    return this.output;
  }

  /** Wait until `test()` is true, polling while the emulator runs; fail with the console tail after `ms`. */
  async until(what: string, test: () => boolean, ms: number): Promise<void> {
    const deadline = performance.now() + ms;
    while (!test()) {
      if (performance.now() > deadline) {
        const failed = this.attached?.device.needsResetReason;
        const device = failed ? `; the device needs a reset (${failed.message})` : '';
        throw new Error(`timed out after ${ms} ms waiting for ${what}${device}; the guest printed last:\n${this.output.slice(-1500)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Run a shell command in the guest; its output and exit status. */
  async run(command: string, ms = 30_000): Promise<{ output: string; status: number }> {
    const n = ++this.commands;
    const start = this.output.length;
    this.emulator.serial0_send(`${command}\n`);
    const marker = commandEnd(n);
    await this.until(`the end of command ${n} (${command})`, () => marker.test(this.output.slice(start)), ms);
    const text = this.output.slice(start);
    const match = marker.exec(text)!;
    return { output: text.slice(0, match.index).replace(/\r/g, ''), status: Number(match[1]) };
  }

  /**
   * Check that the guest's `driver` bound a virtio device; if not, fail with what the kernel
   * said about virtio (a device that misbehaves shows up here, not as a hang).
   */
  async expectBound(driver: string): Promise<string> {
    const bound = await this.run(`ls /sys/bus/virtio/drivers/${driver}/`);
    const device = /virtio\d+/.exec(bound.output)?.[0];
    if (device !== undefined) return device;
    const log = await this.run('dmesg | grep -i virtio | tail -n 5');
    throw new Error(`the guest's ${driver} driver did not bind a device; the kernel said:\n${log.output.trim()}`);
  }

  async stop(): Promise<void> {
    this.attached?.detach();
    await this.emulator.destroy();
  }
}

function bufferOf(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}
