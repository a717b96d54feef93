/**
 * The Debian guest in v86 with freehint's balloon on its PCI bus, in the page: the same kernel
 * command line, memory and serial protocol as the Node harness (test-linux/), and the core's
 * own v86 adapter for the device.
 */
import { attachToV86, BalloonDevice, type AttachedDevice, type BalloonOptions, type V86Emulator } from 'freehint';
import { V86 } from 'v86';
import v86Wasm from 'v86/build/v86.wasm?url';
import { commandEnd, GUEST_MEMORY, KERNEL_CMDLINE, READY_MARKER } from '../../../test-linux/boot-config.js';
import { ASSET_URLS } from './guest-assets.js';

/** No DEFLATE_ON_OOM, as in the Linux guest test; hints are what this page is about. */
const BALLOON: BalloonOptions = { statsQueue: true, freePageHint: true, pagePoison: true, pageReporting: false };

export { GUEST_MEMORY };

export class BrowserGuest {
  #output = '';
  #commands = 0;
  readonly #listeners = new Set<() => void>();

  private constructor(
    private readonly emulator: V86,
    private readonly attached: AttachedDevice<BalloonDevice>,
  ) {
    emulator.add_listener('serial0-output-byte', (byte: number) => {
      this.#output += String.fromCharCode(byte);
      for (const listener of this.#listeners) listener();
    });
  }

  /** Start the emulator; resolves once the device is on the bus and the guest runs. */
  static boot(): Promise<BrowserGuest> {
    return new Promise((resolve) => {
      const emulator = new V86({
        wasm_path: v86Wasm,
        bios: { url: ASSET_URLS.bios },
        bzimage: { url: ASSET_URLS.bzImage },
        initrd: { url: ASSET_URLS.initrd },
        cmdline: KERNEL_CMDLINE,
        memory_size: GUEST_MEMORY,
        autostart: false,
        disable_keyboard: true,
        disable_mouse: true,
      });
      emulator.add_listener('emulator-ready', () => {
        // The firmware enumerates PCI at boot: the device goes on the bus before the guest runs.
        const attached = attachToV86(emulator as unknown as V86Emulator, (memory) => new BalloonDevice(memory, BALLOON), { memorySize: GUEST_MEMORY });
        const guest = new BrowserGuest(emulator, attached);
        void emulator.run();
        resolve(guest);
      });
    });
  }

  get device(): BalloonDevice {
    return this.attached.device;
  }

  /** v86's RAM as bytes (its buffer moves when WebAssembly memory grows: ask each time). */
  get ram(): Uint8Array {
    return (this.emulator as unknown as { v86: { cpu: { mem8: Uint8Array } } }).v86.cpu.mem8;
  }

  get console(): string {
    return this.#output;
  }

  get ready(): boolean {
    return this.#output.includes(READY_MARKER);
  }

  /** Call `listener` on every byte the guest prints; returns the unsubscribe. */
  onOutput(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves when `test()` holds, checked on each byte of output. */
  until(test: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (test()) return resolve();
      const stop = this.onOutput(() => {
        if (test()) {
          stop();
          resolve();
        }
      });
    });
  }

  /** Run a shell command in the guest; resolves with its exit status. */
  async run(command: string): Promise<number> {
    const n = ++this.#commands;
    const start = this.#output.length;
    const end = commandEnd(n);
    this.emulator.serial0_send(`${command}\n`);
    await this.until(() => end.test(this.#output.slice(start)));
    return Number(end.exec(this.#output.slice(start))?.[1]);
  }
}
