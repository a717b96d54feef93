import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { VirtioDevice } from '../../src/virtio/device.js';

/**
 * A transport-test device: any number of queues with chosen max sizes, and a config space that
 * is plain driver-writable RAM, so every byte a transport forwards can be read back. It records
 * each notification the transport delivers, whatever the device then makes of it.
 */
export class ScratchDevice extends VirtioDevice {
  readonly deviceId: number;
  /** Queue indices passed to {@link notify}, in order. */
  readonly notified: number[] = [];
  readonly config: Uint8Array;
  private readonly view: DataView;

  constructor(
    memory: GuestMemory,
    private readonly sizes: readonly number[],
    options: { deviceId?: number; configSize?: number; features?: bigint } = {},
  ) {
    super(memory, options.features ?? 0n);
    this.deviceId = options.deviceId ?? 5;
    this.config = new Uint8Array(options.configSize ?? 64);
    this.view = new DataView(this.config.buffer);
    this.init();
  }

  get configSize(): number {
    return this.config.length;
  }

  override notify(index: number): void {
    this.notified.push(index);
    super.notify(index);
  }

  /** The host changes the config: a new generation (and an interrupt once the driver is live). */
  bump(): void {
    this.configChanged();
  }

  protected queueSizes(): readonly number[] {
    return this.sizes;
  }

  protected readConfigField(offset: number, size: number): number {
    return size === 1 ? this.view.getUint8(offset) : size === 2 ? this.view.getUint16(offset, true) : this.view.getUint32(offset, true);
  }

  protected writeConfigField(offset: number, size: number, value: number): boolean {
    if (size === 1) this.view.setUint8(offset, value & 0xff);
    else if (size === 2) this.view.setUint16(offset, value & 0xffff, true);
    else this.view.setUint32(offset, value >>> 0, true);
    return true;
  }

  protected processQueue(): void {}

  protected onReset(): void {}
}
