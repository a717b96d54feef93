import type { GuestMemory } from '../../src/memory/guest-memory.js';
import type { DescriptorChain } from '../../src/virtio/descriptor-chain.js';
import { VirtioDevice } from '../../src/virtio/device.js';
import type { PackedQueue } from '../../src/virtio/packed-queue.js';

/**
 * A ring-test device with one queue: a kick takes every available buffer and holds it; the host
 * completes held buffers in any order ({@link complete}), each with its readable bytes echoed
 * into its writable part. Tests pass `makePacked` to put a broken packed queue under it.
 */
export class HoldDevice extends VirtioDevice {
  readonly deviceId = 0xfd;
  /** Buffers taken and not yet completed, in the order the device took them. */
  readonly held: DescriptorChain[] = [];

  constructor(
    memory: GuestMemory,
    private readonly queueSize: number,
    features = 0n,
    private readonly makePacked?: (memory: GuestMemory, maxSize: number) => PackedQueue,
  ) {
    super(memory, features);
    this.init();
  }

  get configSize(): number {
    return 0;
  }

  /**
   * Give held buffer `k` back (0: the oldest, in order; any other: out of order) with its
   * readable bytes copied into its writable part; returns the bytes written.
   */
  complete(k: number): number {
    const [chain] = this.held.splice(k, 1);
    if (chain === undefined) throw new RangeError(`no held buffer ${k}`);
    const data = new Uint8Array(chain.readableLength);
    let at = 0;
    for (const s of chain.readable) {
      this.memory.readInto(s.gpa, data.subarray(at, at + s.length));
      at += s.length;
    }
    let written = 0;
    for (const s of chain.writable) {
      const n = Math.min(s.length, data.length - written);
      this.memory.write(s.gpa, data.subarray(written, written + n));
      written += n;
    }
    this.guard(() => {
      this.queues[0]!.push(chain.head, written);
      this.signalUsed(0);
    });
    return written;
  }

  protected queueSizes(): readonly number[] {
    return [this.queueSize];
  }

  protected readConfigField(): number {
    return 0;
  }

  protected writeConfigField(): boolean {
    return false;
  }

  protected processQueue(index: number): void {
    for (let chain = this.nextChain(index); chain !== undefined; chain = this.nextChain(index)) this.held.push(chain);
  }

  protected override newPackedQueue(maxSize: number): PackedQueue {
    return this.makePacked?.(this.memory, maxSize) ?? super.newPackedQueue(maxSize);
  }

  protected onReset(): void {
    this.held.length = 0;
  }
}
