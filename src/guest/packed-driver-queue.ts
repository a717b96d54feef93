/** The driver side of a packed virtqueue (virtio 1.2 §2.8), as a guest driver runs it. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { DESC_SIZE, DescFlag, RingEventFlag } from '../virtio/constants.js';
import type { Segment } from '../virtio/descriptor-chain.js';
import { EventSuppress, PackedDesc, availBits, isUsed, offWrap, packedNeedsEvent, packedRingSizes } from '../virtio/packed-ring.js';
import { checkAddress, type DriverQueueOptions } from './driver-queue.js';
import type { DriverVirtqueue, UsedBuffer } from './driver-virtqueue.js';

/** Where a packed ring lives in guest memory: the descriptor ring and the two event suppression structures. */
export interface PackedRingLayout {
  readonly size: number;
  /** Descriptor Area (16-byte aligned). */
  readonly descRing: number;
  /** Driver Area: the driver's event suppression structure (4-byte aligned). */
  readonly driverEvent: number;
  /** Device Area: the device's event suppression structure (4-byte aligned). */
  readonly deviceEvent: number;
}

/** Options of a packed ring: the ring features (a packed ring starts at slot 0, wrap counters 1). */
export type PackedDriverQueueOptions = Omit<DriverQueueOptions, 'startIndex'>;

/** Lay out a packed ring at `base` (16-byte aligned): descriptors, then the driver's and the device's event suppression. */
export function layoutPackedRing(base: number, size: number): PackedRingLayout & { readonly end: number } {
  const sizes = packedRingSizes(size);
  const driverEvent = base + sizes.desc;
  const deviceEvent = driverEvent + sizes.driver;
  return { size, descRing: base, driverEvent, deviceEvent, end: deviceEvent + sizes.device };
}

/**
 * The driver side of a packed virtqueue (virtio 1.2 §2.8), as Linux's virtio_ring does it
 * (virtqueue_add_packed, kick_prepare_packed, get_buf_ctx_packed, the enable/disable_cb
 * variants): buffer ids from a free list, one id per descriptor a buffer takes, the first
 * descriptor made available last, used buffers found at the driver's position and skipped by
 * the number of descriptors of their id, and event suppression with or without EVENT_IDX.
 */
export class PackedDriverQueue<T> implements DriverVirtqueue<T> {
  readonly layout: PackedRingLayout;
  private readonly size: number;
  /** Next slot to make available and the Driver Ring Wrap Counter (starts at 1). */
  private nextAvail = 0;
  private availWrap = 1;
  /** Next slot where a used descriptor is due, and the wrap counter it will carry. */
  private lastUsed = 0;
  private usedWrap = 1;
  /** Free ids as a list linked through `nextFree` (Linux's free_head and desc_extra[].next). */
  private freeHead = 0;
  private readonly nextFree: Int32Array;
  private freeCount: number;
  /** Per buffer id in flight: its token, the descriptors it took, the last id of its list. */
  private readonly tokens: Array<T | undefined>;
  private readonly descriptors: Int32Array;
  private readonly lastId: Int32Array;
  private inFlightCount = 0;
  /** Descriptors made available since the last kick decision (Linux's num_added). */
  private added = 0;
  /** The driver event suppression flags as last written (Linux's event_flags_shadow). */
  private eventFlags: number = RingEventFlag.ENABLE;
  private readonly eventIdx: boolean;
  /** One descriptor, assembled here and written with one memory access. */
  private readonly descBytes = new Uint8Array(DESC_SIZE);
  private readonly descView = new DataView(this.descBytes.buffer);

  constructor(
    private readonly memory: GuestMemory,
    layout: PackedRingLayout,
    private readonly options: PackedDriverQueueOptions = {},
  ) {
    this.layout = layout;
    this.size = layout.size;
    this.eventIdx = options.eventIdx ?? false;
    // The ring and both event structures start zeroed (§2.8.13): no descriptor looks available,
    // and both sides ask for every notification.
    const sizes = packedRingSizes(layout.size);
    memory.fill(layout.descRing, sizes.desc, 0);
    memory.fill(layout.driverEvent, sizes.driver, 0);
    memory.fill(layout.deviceEvent, sizes.device, 0);
    this.nextFree = new Int32Array(layout.size);
    // Stryker disable next-line EqualityOperator: a write one past a typed array's end is dropped
    for (let id = 0; id < layout.size; id++) this.nextFree[id] = id + 1;
    this.freeCount = layout.size;
    // Stryker disable next-line ArrayDeclaration: a preallocated length only; every slot reads undefined until set
    this.tokens = new Array<T | undefined>(layout.size);
    this.descriptors = new Int32Array(layout.size);
    this.lastId = new Int32Array(layout.size);
  }

  get freeDescriptors(): number {
    return this.freeCount;
  }

  get outstanding(): number {
    return this.inFlightCount;
  }

  /**
   * Make a buffer available: one indirect descriptor when indirect tables are on and it has
   * more than one segment (its table at `area + id · maxSegments · 16`), else one descriptor
   * per segment in consecutive slots. Every descriptor is written before the first one's flags
   * make the buffer visible (§2.8.6). Returns false (changing nothing) without enough free
   * descriptors.
   */
  add(out: readonly Segment[], inn: readonly Segment[], token: T): boolean {
    const count = out.length + inn.length;
    if (count === 0) throw new RangeError('a buffer needs at least one segment');
    const indirect = this.options.indirect;
    const useIndirect = indirect !== undefined && count > 1 && count <= indirect.maxSegments;
    const needed = useIndirect ? 1 : count;
    if (this.freeCount < needed) return false;
    for (const s of out) checkAddress(s.gpa);
    for (const s of inn) checkAddress(s.gpa);
    const segment = (i: number): Segment => (i < out.length ? out[i]! : inn[i - out.length]!);
    const writeFlag = (i: number): number => (i < out.length ? 0 : DescFlag.WRITE);
    const id = this.freeHead;
    const head = this.nextAvail;
    let headFlags: number;
    let last = id;
    if (useIndirect) {
      const table = indirect.area + id * indirect.maxSegments * DESC_SIZE;
      // §2.8.7: WRITE is the only flag inside a table, and the entries follow one another.
      for (let i = 0; i < count; i++) this.writeDesc(table + i * DESC_SIZE, segment(i).gpa, segment(i).length, 0, writeFlag(i));
      this.writeHead(head, table, count * DESC_SIZE, id);
      headFlags = DescFlag.INDIRECT | availBits(this.availWrap);
      this.advance();
    } else {
      let curr = id;
      headFlags = availBits(this.availWrap) | writeFlag(0) | (count > 1 ? DescFlag.NEXT : 0);
      for (let i = 0; i < count; i++) {
        const s = segment(i);
        // Linux puts the buffer id in every descriptor; the device reads it from the last (§2.8.6).
        if (i === 0) this.writeHead(head, s.gpa, s.length, id);
        else this.writeDesc(this.slotAddress(this.nextAvail), s.gpa, s.length, id, availBits(this.availWrap) | writeFlag(i) | (i < count - 1 ? DescFlag.NEXT : 0));
        last = curr;
        curr = this.nextFree[curr]!;
        this.advance();
      }
    }
    this.freeHead = useIndirect ? this.nextFree[id]! : this.nextFree[last]!;
    this.freeCount -= needed;
    this.tokens[id] = token;
    this.descriptors[id] = needed;
    this.lastId[id] = last;
    this.inFlightCount++;
    this.added += needed;
    // The first descriptor's flags last: they expose the whole buffer (§2.8.6).
    this.memory.writeU16(this.slotAddress(head) + PackedDesc.FLAGS, headFlags);
    return true;
  }

  private slotAddress(slot: number): number {
    return this.layout.descRing + slot * DESC_SIZE;
  }

  /** Move to the next slot; past the last one, wrap to 0 and flip the Driver Ring Wrap Counter (§2.8.1). */
  private advance(): void {
    if (++this.nextAvail === this.size) {
      this.nextAvail = 0;
      this.availWrap ^= 1;
    }
  }

  private fillDesc(gpa: number, length: number, id: number, flags: number): void {
    const v = this.descView;
    v.setUint32(PackedDesc.ADDR, gpa % 0x1_0000_0000, true);
    v.setUint32(PackedDesc.ADDR + 4, Math.floor(gpa / 0x1_0000_0000), true);
    v.setUint32(PackedDesc.LEN, length, true);
    v.setUint16(PackedDesc.ID, id, true);
    v.setUint16(PackedDesc.FLAGS, flags, true);
  }

  private writeDesc(at: number, gpa: number, length: number, id: number, flags: number): void {
    this.fillDesc(gpa, length, id, flags);
    this.memory.write(at, this.descBytes);
  }

  /** The first descriptor without its flags, which {@link add} writes last. */
  private writeHead(slot: number, gpa: number, length: number, id: number): void {
    this.fillDesc(gpa, length, id, 0);
    this.memory.write(this.slotAddress(slot), this.descBytes.subarray(0, PackedDesc.FLAGS));
  }

  /**
   * Whether the device wants a notification for what was added since the last call
   * (kick_prepare_packed): its event suppression flags, and with a descriptor-specific
   * request, whether the descriptor it names is among those just made available.
   */
  kickNeeded(): boolean {
    const added = this.added;
    this.added = 0;
    if (added === 0) return false;
    const flags = this.memory.readU16(this.layout.deviceEvent + EventSuppress.FLAGS);
    if (flags !== RingEventFlag.DESC) return flags !== RingEventFlag.DISABLE;
    // Stryker disable next-line ArithmeticOperator: OFF_WRAP is 0, so + and - name the same address
    return packedNeedsEvent(this.memory.readU16(this.layout.deviceEvent + EventSuppress.OFF_WRAP), this.nextAvail, this.availWrap, added, this.size);
  }

  /**
   * Take the next used buffer, or undefined when there is none. Throws when the device returns
   * an id that is not in flight (a device bug that a driver must not paper over).
   */
  getUsed(): UsedBuffer<T> | undefined {
    const at = this.slotAddress(this.lastUsed);
    if (!isUsed(this.memory.readU16(at + PackedDesc.FLAGS), this.usedWrap)) return undefined;
    const id = this.memory.readU16(at + PackedDesc.ID);
    const len = this.memory.readU32(at + PackedDesc.LEN);
    // An id past the ring has no token either.
    if (this.tokens[id] === undefined) throw new Error(`device returned buffer id ${id}, which is not in flight`);
    const token = this.tokens[id] as T;
    const skip = this.descriptors[id]!;
    this.release(id);
    // The device wrote one used descriptor for the buffer and skipped the rest of its slots.
    this.lastUsed += skip;
    if (this.lastUsed >= this.size) {
      this.lastUsed -= this.size;
      this.usedWrap ^= 1;
    }
    // Ask for an interrupt at the next used descriptor, if that is the mode (get_buf_ctx_packed).
    if (this.eventFlags === RingEventFlag.DESC) this.writeEvent(this.lastUsed, this.usedWrap);
    return { token, len };
  }

  drainUsed(): UsedBuffer<T>[] {
    const out: UsedBuffer<T>[] = [];
    for (let u = this.getUsed(); u !== undefined; u = this.getUsed()) out.push(u);
    return out;
  }

  takeOutstanding(): Array<[number, T]> {
    const out: Array<[number, T]> = [];
    // Stryker disable next-line EqualityOperator: the id past the ring has no token and is skipped
    for (let id = 0; id < this.size; id++) {
      if (this.tokens[id] === undefined) continue;
      out.push([id, this.tokens[id] as T]);
      this.release(id);
    }
    return out;
  }

  /** Give a buffer's ids back to the free list (detach_buf_packed). */
  private release(id: number): void {
    this.nextFree[this.lastId[id]!] = this.freeHead;
    this.freeHead = id;
    this.freeCount += this.descriptors[id]!;
    this.tokens[id] = undefined;
    this.descriptors[id] = 0;
    this.inFlightCount--;
  }

  /**
   * Ask for (or suppress) used-buffer interrupts (enable_cb_prepare / disable_cb): on, with
   * EVENT_IDX, for the next used descriptor; the caller re-checks getUsed() afterwards.
   */
  setInterrupts(enabled: boolean): void {
    if (!enabled) {
      this.writeFlags(RingEventFlag.DISABLE);
      return;
    }
    if (this.eventIdx) this.writeEvent(this.lastUsed, this.usedWrap);
    this.enableFlags();
  }

  /**
   * Interrupts on, but with EVENT_IDX only once about three quarters of the descriptors in
   * flight are used (enable_cb_delayed). Returns false when a used buffer is already waiting.
   */
  setInterruptsDelayed(): boolean {
    if (this.eventIdx) {
      let slot = this.lastUsed + Math.floor(((this.size - this.freeCount) * 3) / 4);
      let wrap = this.usedWrap;
      if (slot >= this.size) {
        slot -= this.size;
        wrap ^= 1;
      }
      this.writeEvent(slot, wrap);
    }
    this.enableFlags();
    return !isUsed(this.memory.readU16(this.slotAddress(this.lastUsed) + PackedDesc.FLAGS), this.usedWrap);
  }

  /** Turn notifications on from DISABLE: for a descriptor with EVENT_IDX, else for every used buffer. */
  private enableFlags(): void {
    if (this.eventFlags === RingEventFlag.DISABLE) this.writeFlags(this.eventIdx ? RingEventFlag.DESC : RingEventFlag.ENABLE);
  }

  private writeFlags(flags: number): void {
    if (this.eventFlags === flags) return;
    this.eventFlags = flags;
    this.memory.writeU16(this.layout.driverEvent + EventSuppress.FLAGS, flags);
  }

  /** off_wrap goes in before any flags that point at it. */
  private writeEvent(slot: number, wrap: number): void {
    // Stryker disable next-line ArithmeticOperator: OFF_WRAP is 0, so + and - name the same address
    this.memory.writeU16(this.layout.driverEvent + EventSuppress.OFF_WRAP, offWrap(slot, wrap));
  }
}
