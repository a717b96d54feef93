/** The split virtqueue, device side (virtio 1.2 §2.7): available ring, used ring, notification suppression. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { AVAIL_F_NO_INTERRUPT, DESC_SIZE, MAX_QUEUE_SIZE, USED_F_NO_NOTIFY } from './constants.js';
import { readChain, type ChainContext, type ChainLimits, type DescriptorChain } from './descriptor-chain.js';
import { VirtioError } from './errors.js';

/** Byte sizes of the split ring areas for queue size `q` (§2.7, event fields included). */
export function ringSizes(q: number): { desc: number; avail: number; used: number } {
  return { desc: DESC_SIZE * q, avail: 6 + 2 * q, used: 6 + 8 * q };
}

/** Everything needed to resume a split queue elsewhere (migration, snapshots). */
export interface SplitQueueState {
  /** The ring layout (§2.7); a packed queue's state is the other variant. */
  readonly layout: 'split';
  readonly size: number;
  readonly ready: boolean;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
  readonly nextAvail: number;
  readonly nextUsed: number;
}

/**
 * Whether an event index asks for a notification now (§2.7.7.2, `vring_need_event`): true iff
 * `event` lies in the half-open window (old, new] of indices just published, in u16 arithmetic
 * (H17: the indices wrap at 65536, and `event` may lie behind `old`).
 */
export function needsEvent(event: number, newIdx: number, oldIdx: number): boolean {
  return ((newIdx - event - 1) & 0xffff) < ((newIdx - oldIdx) & 0xffff);
}

/** True when `n` is a power of two in 1..max. */
export function isValidQueueSize(n: number, max: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= max && (n & (n - 1)) === 0;
}

/**
 * The device side of a split virtqueue (§2.7). The transport fills in the size and the three
 * area addresses; {@link activate} checks them before the first access; then the device pops
 * available chains and pushes used ones. Every ring index is a free-running u16.
 */
export class SplitQueue {
  readonly layout = 'split';
  size: number;
  ready = false;
  descTable = 0;
  availRing = 0;
  usedRing = 0;

  private eventIdx = false;
  private indirect = false;
  private nextAvail = 0;
  private nextUsed = 0;
  /** used.idx when the driver was last considered for an interrupt. */
  private usedAtLastSignal = 0;

  constructor(
    private readonly memory: GuestMemory,
    /** QueueNumMax: the largest size the driver may choose. */
    readonly maxSize: number,
    /** The chain walker; tests inject broken ones to show the properties catch them. */
    private readonly walk: (ctx: ChainContext, head: number) => DescriptorChain = readChain,
  ) {
    if (!isValidQueueSize(maxSize, MAX_QUEUE_SIZE)) throw new RangeError(`queue size ${maxSize} is not a power of two up to ${MAX_QUEUE_SIZE}`);
    this.size = maxSize;
  }

  /** Back to the state after device reset (§2.4). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descTable = this.availRing = this.usedRing = 0;
    this.nextAvail = this.nextUsed = this.usedAtLastSignal = 0;
    this.eventIdx = this.indirect = false;
  }

  /**
   * Check the layout the driver chose and fix the negotiated ring features. Called at
   * DRIVER_OK for every ready queue; throws a {@link VirtioError} for a bad layout.
   */
  activate(features: { eventIdx: boolean; indirect: boolean }): void {
    this.eventIdx = features.eventIdx;
    this.indirect = features.indirect;
    if (!isValidQueueSize(this.size, this.maxSize)) {
      throw new VirtioError('bad-queue-size', `queue size ${this.size} is not a power of two up to ${this.maxSize}`);
    }
    const sizes = ringSizes(this.size);
    const areas = [
      ['descriptor table', this.descTable, sizes.desc, 16],
      ['available ring', this.availRing, sizes.avail, 2],
      ['used ring', this.usedRing, sizes.used, 4],
    ] as const;
    for (const [name, gpa, length, align] of areas) {
      if (gpa % align !== 0) throw new VirtioError('ring-misaligned', `${name} at 0x${gpa.toString(16)} is not ${align}-byte aligned`);
      if (!this.memory.contains(gpa, length)) {
        throw new VirtioError('ring-out-of-range', `${name} 0x${gpa.toString(16)}+${length} is not in guest RAM`);
      }
    }
  }

  private get availEventAddr(): number {
    return this.usedRing + 4 + 8 * this.size;
  }

  private get usedEventAddr(): number {
    return this.availRing + 4 + 2 * this.size;
  }

  /** Number of chains the driver has made available that the device has not popped. */
  pending(): number {
    const pending = (this.memory.readU16(this.availRing + 2) - this.nextAvail) & 0xffff;
    // §2.7.13: avail.idx may run ahead of the device by at most the queue size.
    if (pending > this.size) {
      throw new VirtioError('avail-index-too-far', `avail.idx is ${pending} entries ahead of the device, queue size ${this.size}`);
    }
    return pending;
  }

  /** Take the next available chain, or undefined when the ring is empty; `limits` bound its size. */
  pop(limits?: ChainLimits): DescriptorChain | undefined {
    if (this.pending() === 0) return undefined;
    const head = this.memory.readU16(this.availRing + 4 + 2 * (this.nextAvail % this.size));
    const chain = this.walk({ memory: this.memory, descTable: this.descTable, queueSize: this.size, indirect: this.indirect, ...(limits ? { limits } : {}) }, head);
    this.nextAvail = (this.nextAvail + 1) & 0xffff;
    // Ask for a kick when the driver publishes the entry after this one (§2.7.10.2).
    if (this.eventIdx) this.memory.writeU16(this.availEventAddr, this.nextAvail);
    return chain;
  }

  /** Return a chain to the driver with `len` bytes written into its writable part (§2.7.8). */
  push(head: number, len: number): void {
    if (head >= this.size) throw new VirtioError('head-out-of-range', `used head ${head} is outside a queue of ${this.size}`);
    const elem = this.usedRing + 4 + 8 * (this.nextUsed % this.size);
    this.memory.writeU32(elem, head);
    this.memory.writeU32(elem + 4, len);
    // The element is written before used.idx publishes it (§2.7.8.2).
    this.nextUsed = (this.nextUsed + 1) & 0xffff;
    this.memory.writeU16(this.usedRing + 2, this.nextUsed);
  }

  /**
   * Whether the driver wants an interrupt for what was pushed since the last call
   * (§2.7.7.2): EVENT_IDX's used_event when negotiated, else avail.flags NO_INTERRUPT.
   */
  takeInterrupt(): boolean {
    const oldIdx = this.usedAtLastSignal;
    const newIdx = this.nextUsed;
    this.usedAtLastSignal = newIdx;
    if (oldIdx === newIdx) return false;
    if (this.eventIdx) return needsEvent(this.memory.readU16(this.usedEventAddr), newIdx, oldIdx);
    return (this.memory.readU16(this.availRing) & AVAIL_F_NO_INTERRUPT) === 0;
  }

  /** Tell the driver whether kicks are wanted (used.flags NO_NOTIFY, or avail_event). */
  setKicks(enabled: boolean): void {
    if (this.eventIdx) {
      if (enabled) this.memory.writeU16(this.availEventAddr, this.nextAvail);
    } else {
      this.memory.writeU16(this.usedRing, enabled ? 0 : USED_F_NO_NOTIFY);
    }
  }

  save(): SplitQueueState {
    const { size, ready, descTable, availRing, usedRing, nextAvail, nextUsed } = this;
    return { layout: 'split', size, ready, descTable, availRing, usedRing, nextAvail, nextUsed };
  }

  /** Resume from {@link save} (checked by parseQueueState); the caller activates the queue again. */
  restore(state: SplitQueueState): void {
    this.size = state.size;
    this.ready = state.ready;
    this.descTable = state.descTable;
    this.availRing = state.availRing;
    this.usedRing = state.usedRing;
    this.nextAvail = state.nextAvail & 0xffff;
    this.nextUsed = state.nextUsed & 0xffff;
    this.usedAtLastSignal = this.nextUsed;
  }
}
