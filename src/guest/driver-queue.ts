/** The driver side of a split ring: the guest's view of a virtqueue, reused by the simulated drivers, the tests and the fuzzers. */
import { MemoryError } from '../memory/errors.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { AVAIL_F_NO_INTERRUPT, DESC_SIZE, DescFlag, USED_F_NO_NOTIFY } from '../virtio/constants.js';
import type { Segment } from '../virtio/descriptor-chain.js';
import { needsEvent, ringSizes } from '../virtio/split-queue.js';
import type { DriverVirtqueue, UsedBuffer } from './driver-virtqueue.js';

export type { UsedBuffer };

/** A descriptor address must be an exact u64 (what writeU64 would accept). */
export function checkAddress(gpa: number): void {
  if (!Number.isSafeInteger(gpa) || gpa < 0) throw new MemoryError('u64-unsafe', -1, 8, `cannot store ${gpa} as an exact unsigned 64-bit address`);
}

/** Where a split ring lives in guest memory. */
export interface RingLayout {
  readonly size: number;
  readonly descTable: number;
  readonly availRing: number;
  readonly usedRing: number;
}

/** What the driver negotiated that changes how it uses a queue. */
export interface DriverQueueOptions {
  /** VIRTIO_F_EVENT_IDX was negotiated. */
  readonly eventIdx?: boolean;
  /**
   * VIRTIO_F_INDIRECT_DESC was negotiated: chains of more than one segment go in an indirect
   * table at `area + head · maxSegments · 16` (the area holds size · maxSegments entries).
   */
  readonly indirect?: { readonly area: number; readonly maxSegments: number };
  /** Ring index to start from (a resumed queue); 0 after a reset. */
  readonly startIndex?: number;
}

/** Lay out a split ring at `base`: descriptors, then the avail ring, then the used ring (aligned). */
export function layoutRing(base: number, size: number): RingLayout & { readonly end: number } {
  const sizes = ringSizes(size);
  const availRing = base + sizes.desc;
  const usedRing = Math.ceil((availRing + sizes.avail) / 4) * 4;
  return { size, descTable: base, availRing, usedRing, end: usedRing + sizes.used };
}

/**
 * The driver side of a split virtqueue, as Linux's virtio_ring does it: a free list of
 * descriptors, chains published through the avail ring, used buffers collected in order,
 * and the EVENT_IDX / flag rules for kicks and interrupts (§2.7.7, §2.7.10). The simulated
 * guest drivers, the tests and the fuzzers all build rings with it.
 */
export class DriverQueue<T> implements DriverVirtqueue<T> {
  readonly layout: RingLayout;
  /** Free descriptors as a stack: the most recently freed is reused first, as in Linux. */
  private readonly freeStack: Int32Array;
  private freeCount = 0;
  /** Per head: the token, and the descriptors of its chain (a private copy of the links). */
  private readonly tokens: Array<T | undefined>;
  private readonly chainLength: Int32Array;
  private readonly chainNext: Int32Array;
  private inFlightCount = 0;
  private availIdx: number;
  private lastUsed: number;
  private availAtLastKick: number;
  private readonly eventIdx: boolean;
  /** Used-buffer interrupts are wanted (Linux: the callback is enabled). */
  private interrupts = true;
  /** One descriptor, assembled here and written with one memory access. */
  private readonly descBytes = new Uint8Array(DESC_SIZE);
  private readonly descView = new DataView(this.descBytes.buffer);

  constructor(
    private readonly memory: GuestMemory,
    layout: RingLayout,
    private readonly options: DriverQueueOptions = {},
  ) {
    this.layout = layout;
    this.eventIdx = options.eventIdx ?? false;
    const start = (options.startIndex ?? 0) & 0xffff;
    this.availIdx = this.lastUsed = this.availAtLastKick = start;
    const sizes = ringSizes(layout.size);
    // The driver zeroes its rings before handing them over (§2.7.10.1 used.flags = 0).
    memory.fill(layout.descTable, sizes.desc, 0);
    memory.fill(layout.availRing, sizes.avail, 0);
    memory.fill(layout.usedRing, sizes.used, 0);
    memory.writeU16(layout.availRing + 2, start);
    memory.writeU16(layout.usedRing + 2, start);
    if (this.eventIdx) memory.writeU16(this.usedEventAddr, start);
    this.freeStack = new Int32Array(layout.size);
    // Lowest index on top, so a fresh ring hands out 0, 1, 2, …
    for (let i = layout.size - 1; i >= 0; i--) this.freeStack[this.freeCount++] = i;
    this.tokens = new Array<T | undefined>(layout.size);
    this.chainLength = new Int32Array(layout.size);
    this.chainNext = new Int32Array(layout.size);
  }

  /** Descriptors not in use. */
  get freeDescriptors(): number {
    return this.freeCount;
  }

  /** Chains given to the device and not yet returned. */
  get outstanding(): number {
    return this.inFlightCount;
  }

  private get usedEventAddr(): number {
    return this.layout.availRing + 4 + 2 * this.layout.size;
  }

  private get availEventAddr(): number {
    return this.layout.usedRing + 4 + 8 * this.layout.size;
  }

  /**
   * Publish a chain of device-readable `out` then device-writable `inn` segments. Returns false
   * (and changes nothing) when there are not enough free descriptors.
   */
  add(out: readonly Segment[], inn: readonly Segment[], token: T): boolean {
    const count = out.length + inn.length;
    if (count === 0) throw new RangeError('a chain needs at least one segment');
    const indirect = this.options.indirect;
    const useIndirect = indirect !== undefined && count > 1 && count <= indirect.maxSegments;
    const needed = useIndirect ? 1 : count;
    if (this.freeCount < needed) return false;
    for (const s of out) checkAddress(s.gpa);
    for (const s of inn) checkAddress(s.gpa);
    const head = this.freeStack[--this.freeCount]!;
    this.chainLength[head] = needed;
    if (useIndirect) {
      const table = indirect.area + head * indirect.maxSegments * DESC_SIZE;
      for (let i = 0; i < count; i++) {
        const last = i === count - 1;
        const s = i < out.length ? out[i]! : inn[i - out.length]!;
        this.writeDesc(table + i * DESC_SIZE, s.gpa, s.length, (i < out.length ? 0 : DescFlag.WRITE) | (last ? 0 : DescFlag.NEXT), last ? 0 : i + 1);
      }
      this.writeDesc(this.descAddr(head), table, count * DESC_SIZE, DescFlag.INDIRECT, 0);
    } else {
      let index = head;
      for (let i = 0; i < count; i++) {
        const last = i === count - 1;
        const next = last ? 0 : this.freeStack[--this.freeCount]!;
        const s = i < out.length ? out[i]! : inn[i - out.length]!;
        this.chainNext[index] = next;
        this.writeDesc(this.descAddr(index), s.gpa, s.length, (i < out.length ? 0 : DescFlag.WRITE) | (last ? 0 : DescFlag.NEXT), next);
        index = next;
      }
    }
    this.tokens[head] = token;
    this.inFlightCount++;
    const m = this.memory;
    // The ring entry is written before avail.idx publishes it (§2.7.13).
    m.writeU16(this.layout.availRing + 4 + 2 * (this.availIdx % this.layout.size), head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    m.writeU16(this.layout.availRing + 2, this.availIdx);
    return true;
  }

  private writeDesc(at: number, gpa: number, length: number, flags: number, next: number): void {
    const v = this.descView;
    v.setUint32(0, gpa % 0x1_0000_0000, true);
    v.setUint32(4, Math.floor(gpa / 0x1_0000_0000), true);
    v.setUint32(8, length, true);
    v.setUint16(12, flags, true);
    v.setUint16(14, next, true);
    this.memory.write(at, this.descBytes);
  }

  /**
   * Whether the device wants a notification for what was added since the last call
   * (Linux's virtqueue_kick_prepare): avail_event with EVENT_IDX, else used.flags NO_NOTIFY.
   */
  kickNeeded(): boolean {
    const oldIdx = this.availAtLastKick;
    const newIdx = this.availIdx;
    this.availAtLastKick = newIdx;
    if (oldIdx === newIdx) return false;
    if (this.eventIdx) return needsEvent(this.memory.readU16(this.availEventAddr), newIdx, oldIdx);
    return (this.memory.readU16(this.layout.usedRing) & USED_F_NO_NOTIFY) === 0;
  }

  /**
   * Take the next used buffer, or undefined when there is none. Throws when the device
   * returns a head that is not in flight (a device bug that a driver must not paper over).
   */
  getUsed(): UsedBuffer<T> | undefined {
    const usedIdx = this.memory.readU16(this.layout.usedRing + 2);
    if (usedIdx === this.lastUsed) return undefined;
    const elem = this.layout.usedRing + 4 + 8 * (this.lastUsed % this.layout.size);
    const head = this.memory.readU32(elem);
    const len = this.memory.readU32(elem + 4);
    if (head >= this.layout.size || this.chainLength[head] === 0) throw new Error(`device returned head ${head}, which is not in flight`);
    const token = this.tokens[head] as T;
    this.release(head);
    this.lastUsed = (this.lastUsed + 1) & 0xffff;
    // Ask for an interrupt at the next entry, unless interrupts are off (Linux's get_buf).
    if (this.eventIdx && this.interrupts) this.memory.writeU16(this.usedEventAddr, this.lastUsed);
    return { token, len };
  }

  /** Every used buffer available now, in ring order. */
  drainUsed(): UsedBuffer<T>[] {
    const out: UsedBuffer<T>[] = [];
    for (let u = this.getUsed(); u !== undefined; u = this.getUsed()) out.push(u);
    return out;
  }

  /**
   * Forget every chain still with the device (after a device reset) and return their tokens
   * with their heads, so the driver can take back what it lent.
   */
  takeOutstanding(): Array<[number, T]> {
    const out: Array<[number, T]> = [];
    for (let head = 0; head < this.layout.size; head++) {
      if (this.chainLength[head] === 0) continue;
      out.push([head, this.tokens[head] as T]);
      this.release(head);
    }
    return out;
  }

  /** Put a chain's descriptors back on the free stack (detach_buf). */
  private release(head: number): void {
    let index = head;
    for (let n = this.chainLength[head]!; n > 0; n--) {
      this.freeStack[this.freeCount++] = index;
      index = this.chainNext[index]!;
    }
    this.chainLength[head] = 0;
    this.tokens[head] = undefined;
    this.inFlightCount--;
  }

  /** Ask for (or suppress) used-buffer interrupts: avail.flags, or used_event with EVENT_IDX. */
  setInterrupts(enabled: boolean): void {
    this.interrupts = enabled;
    if (this.eventIdx) {
      // On: re-arm at the next entry; the caller re-checks getUsed() afterwards (§2.7.14 race).
      // Off: one behind the last entry collected, a position the device has already passed and
      // will not reach again for 2^16 entries (Linux writes 0, which a ring near the wrap hits).
      this.memory.writeU16(this.usedEventAddr, enabled ? this.lastUsed : (this.lastUsed - 1) & 0xffff);
    } else {
      this.memory.writeU16(this.layout.availRing, enabled ? 0 : AVAIL_F_NO_INTERRUPT);
    }
  }

  private descAddr(index: number): number {
    return this.layout.descTable + index * DESC_SIZE;
  }
}
