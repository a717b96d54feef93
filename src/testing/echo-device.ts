/** The smallest complete virtio device: echoes what it reads into what it writes. */
import type { GuestMemory } from '../memory/guest-memory.js';
import type { ChainLimits } from '../virtio/descriptor-chain.js';
import { VirtioDevice } from '../virtio/device.js';

/** Device id of the echo device (a free id; the spec's 0 would make drivers ignore it). */
export const ECHO_DEVICE_ID = 0xfe;

/**
 * An echo chain holds up to 32 buffers and a page of data: the walk, then at most two pages
 * read and two written (a page may straddle two).
 */
export const ECHO_CHAIN_LIMITS: ChainLimits = { maxSegments: 32, maxBytes: 4096, cost: 33 + 4 };

/**
 * The smallest complete virtio device: one queue whose every chain gets its readable bytes
 * copied into its writable part. It exercises the core and the transports without any device
 * logic of its own, for tests, fuzzing and demos. Config: le32 `served` (read-only), le32
 * `scratch` (driver-writable).
 */
export class EchoDevice extends VirtioDevice {
  readonly deviceId: number = ECHO_DEVICE_ID;
  served = 0;
  private scratch = 0;

  constructor(
    memory: GuestMemory,
    private readonly queueSize = 256,
    features = 0n,
  ) {
    super(memory, features);
    this.init();
  }

  get configSize(): number {
    return 8;
  }

  protected queueSizes(): readonly number[] {
    return [this.queueSize];
  }

  protected readConfigField(offset: number, size: number): number {
    const bytes = new DataView(new ArrayBuffer(8));
    bytes.setUint32(0, this.served, true);
    bytes.setUint32(4, this.scratch, true);
    return size === 1 ? bytes.getUint8(offset) : size === 2 ? bytes.getUint16(offset, true) : bytes.getUint32(offset, true);
  }

  protected writeConfigField(offset: number, size: number, value: number): boolean {
    if (offset !== 4 || size !== 4) return false;
    this.scratch = value;
    return true;
  }

  protected override chainLimits(): ChainLimits {
    return ECHO_CHAIN_LIMITS;
  }

  protected processQueue(index: number): void {
    const q = this.queues[index]!;
    for (let chain = this.nextChain(index); chain !== undefined; chain = this.nextChain(index)) {
      const data = new Uint8Array(chain.readableLength);
      let at = 0;
      for (const s of chain.readable) {
        this.memory.readInto(s.gpa, data.subarray(at, at + s.length));
        at += s.length;
      }
      let written = 0;
      for (const s of chain.writable) {
        if (written === data.length) break;
        // An empty segment holds nothing; the next one may (§2.7.4: no assumed split).
        const n = Math.min(s.length, data.length - written);
        this.memory.write(s.gpa, data.subarray(written, written + n));
        written += n;
      }
      q.push(chain.head, written);
      // Pages read and written: a length of n bytes spans at most n / 4096 + 1 pages.
      this.spend(2 * (Math.ceil(data.length / 4096) + 1));
      this.served++;
    }
  }

  protected onReset(): void {
    this.served = 0;
    this.scratch = 0;
  }
}
