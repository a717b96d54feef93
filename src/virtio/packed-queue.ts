/** The device side of a packed virtqueue (virtio 1.2 §2.8): buffers in, used buffers out, events. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { DESC_SIZE, DescFlag, MAX_QUEUE_SIZE, RingEventFlag } from './constants.js';
import type { ChainLimits, DescriptorChain } from './descriptor-chain.js';
import { VirtioError } from './errors.js';
import { readPackedChain } from './packed-chain.js';
import { EventSuppress, PACKED_ALIGN, PackedDesc, isAvailable, offWrap, packedNeedsEvent, packedRingSizes, usedBits } from './packed-ring.js';

/** Everything needed to resume a packed queue elsewhere (migration, snapshots). */
export interface PackedQueueState {
  readonly layout: 'packed';
  readonly size: number;
  readonly ready: boolean;
  /** Descriptor Area: the descriptor ring. */
  readonly descRing: number;
  /** Driver Area: the driver's event suppression structure (what the device reads). */
  readonly driverEvent: number;
  /** Device Area: the device's event suppression structure (what it writes). */
  readonly deviceEvent: number;
  /** Where the device reads the next buffer: a slot, and the Driver Ring Wrap Counter it expects there (0 or 1). */
  readonly nextAvail: number;
  readonly availWrap: number;
  /** Where the device writes the next used descriptor, and its Device Ring Wrap Counter (0 or 1). */
  readonly nextUsed: number;
  readonly usedWrap: number;
  /** Buffers taken and not yet used, as [buffer id, ring slots it took], by id. */
  readonly inFlight: ReadonlyArray<readonly [number, number]>;
}

/**
 * The device side of a packed virtqueue (virtio 1.2 §2.8). The transport fills in the size and
 * the three area addresses; {@link activate} checks them before the first access; then the
 * device pops available buffers in ring order and pushes them back used in any order, by
 * buffer id. Both wrap counters start at 1 (§2.8.1). Any size from 1 to QueueNumMax works; it
 * need not be a power of two.
 */
export class PackedQueue {
  readonly layout = 'packed';
  size: number;
  ready = false;
  descRing = 0;
  driverEvent = 0;
  deviceEvent = 0;

  // Stryker disable next-line BooleanLiteral: activate() sets it before any use
  private eventIdx = false;
  // Stryker disable next-line BooleanLiteral: activate() sets it before any use
  private indirect = false;
  // Positions and wrap counters are protected so that tests can build broken twins.
  protected nextAvail = 0;
  protected availWrap = 1;
  protected nextUsed = 0;
  protected usedWrap = 1;
  /** Ring slots each buffer in flight took, by buffer id (0: not in flight). */
  private readonly inFlight: Uint16Array;
  /** Their sum: the slots from nextUsed to nextAvail, which the driver may not write (§2.8.6). */
  private inFlightSlots = 0;
  /** Slots the used position moved since the driver was last considered for an interrupt. */
  private usedSinceSignal = 0;

  constructor(
    protected readonly memory: GuestMemory,
    /** QueueNumMax: the largest size the driver may choose. */
    readonly maxSize: number,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 1 || maxSize > MAX_QUEUE_SIZE) throw new RangeError(`queue size ${maxSize} is not 1 to ${MAX_QUEUE_SIZE}`);
    this.size = maxSize;
    this.inFlight = new Uint16Array(maxSize);
  }

  // The transports program every layout through the registers' names for the split ring's
  // parts (QueueDesc/QueueDriver/QueueDevice: the Descriptor, Driver and Device Areas).
  get descTable(): number {
    return this.descRing;
  }
  set descTable(gpa: number) {
    this.descRing = gpa;
  }
  get availRing(): number {
    return this.driverEvent;
  }
  set availRing(gpa: number) {
    this.driverEvent = gpa;
  }
  get usedRing(): number {
    return this.deviceEvent;
  }
  set usedRing(gpa: number) {
    this.deviceEvent = gpa;
  }

  /** Back to the state after device reset (§2.4). */
  reset(): void {
    this.size = this.maxSize;
    this.ready = false;
    this.descRing = this.driverEvent = this.deviceEvent = 0;
    // Stryker disable next-line BooleanLiteral: activate() sets both before any use
    this.eventIdx = this.indirect = false;
    this.resetRing();
  }

  /**
   * Forget the ring: positions back to slot 0 with both wrap counters at 1, nothing in flight.
   * A driver that disables a queue takes every buffer back and starts a fresh, zeroed ring.
   */
  resetRing(): void {
    this.nextAvail = this.nextUsed = 0;
    this.availWrap = this.usedWrap = 1;
    this.inFlight.fill(0);
    this.inFlightSlots = this.usedSinceSignal = 0;
  }

  /**
   * Check the layout the driver chose, fix the negotiated ring features and ask for kicks in
   * the device event suppression structure. Called at DRIVER_OK for every ready queue; throws
   * a {@link VirtioError} for a bad layout.
   */
  activate(features: { eventIdx: boolean; indirect: boolean }): void {
    this.eventIdx = features.eventIdx;
    this.indirect = features.indirect;
    if (!Number.isInteger(this.size) || this.size < 1 || this.size > this.maxSize) {
      throw new VirtioError('bad-queue-size', `queue size ${this.size} is not 1 to ${this.maxSize}`);
    }
    const sizes = packedRingSizes(this.size);
    const areas = [
      ['descriptor ring', this.descRing, sizes.desc, PACKED_ALIGN.desc],
      ['driver event suppression', this.driverEvent, sizes.driver, PACKED_ALIGN.driver],
      ['device event suppression', this.deviceEvent, sizes.device, PACKED_ALIGN.device],
    ] as const;
    for (const [name, gpa, length, align] of areas) {
      if (gpa % align !== 0) throw new VirtioError('ring-misaligned', `${name} at 0x${gpa.toString(16)} is not ${align}-byte aligned`);
      if (!this.memory.contains(gpa, length)) throw new VirtioError('ring-out-of-range', `${name} 0x${gpa.toString(16)}+${length} is not in guest RAM`);
    }
    this.setKicks(true);
  }

  private slotAddress(slot: number): number {
    return this.descRing + slot * DESC_SIZE;
  }

  /**
   * 1 when a buffer is available at the device's position, else 0: a packed ring cannot count
   * its buffers without walking them. Throws when the driver marked a slot available that it
   * does not own (every slot is in flight).
   */
  pending(): number {
    if (!isAvailable(this.memory.readU16(this.slotAddress(this.nextAvail) + PackedDesc.FLAGS), this.availWrap)) return 0;
    // With every slot in flight the device's next slot holds one of them, which a driver that
    // keeps §2.8.6 leaves marked in the previous lap: it cannot look available.
    if (this.inFlightSlots === this.size) throw new VirtioError('ring-overrun', `the driver made a descriptor available at ring slot ${this.nextAvail} while all ${this.size} are in flight`);
    return 1;
  }

  /** Take the next available buffer, or undefined when there is none; `limits` bound its size. */
  pop(limits?: ChainLimits): DescriptorChain | undefined {
    if (this.pending() === 0) return undefined;
    const { chain, slots } = readPackedChain({
      memory: this.memory,
      ring: this.descRing,
      queueSize: this.size,
      slot: this.nextAvail,
      wrap: this.availWrap,
      room: this.size - this.inFlightSlots,
      indirect: this.indirect,
      ...(limits ? { limits } : {}),
    });
    const id = chain.head;
    // The id is how the buffer comes back (§2.8.6): Linux hands out ids below the queue size,
    // and one in flight cannot name a second buffer.
    if (id >= this.size) throw new VirtioError('buffer-id-out-of-range', `buffer id ${id} is outside a queue of ${this.size}`);
    if (this.inFlight[id] !== 0) throw new VirtioError('buffer-id-in-use', `buffer id ${id} is already in flight`);
    this.inFlight[id] = slots;
    this.inFlightSlots += slots;
    this.nextAvail += slots;
    if (this.nextAvail >= this.size) {
      this.nextAvail -= this.size;
      this.availWrap ^= 1;
    }
    // Ask for a kick when the driver makes the next descriptor available (§2.8.10).
    // Stryker disable next-line ArithmeticOperator: OFF_WRAP is 0, so + and - name the same address
    if (this.eventIdx) this.memory.writeU16(this.deviceEvent + EventSuppress.OFF_WRAP, offWrap(this.nextAvail, this.availWrap));
    return chain;
  }

  /**
   * Return buffer `id` to the driver with `len` bytes written into its writable part: a used
   * descriptor at the device's position, which then skips the slots the buffer took (§2.8.6).
   * Buffers may come back in any order.
   */
  push(id: number, len: number): void {
    const slots = this.inFlight[id] ?? 0;
    if (slots === 0) throw new VirtioError('internal', `buffer id ${id} is not in flight`);
    this.writeUsed(this.slotAddress(this.nextUsed), id, len, this.usedWrap);
    this.inFlight[id] = 0;
    this.inFlightSlots -= slots;
    this.usedSinceSignal += slots;
    this.advanceUsed(slots);
  }

  /** Write a used descriptor at `at`; tests override it to show the properties catch a bad order. */
  protected writeUsed(at: number, id: number, len: number, wrap: number): void {
    this.memory.writeU32(at + PackedDesc.LEN, len);
    this.memory.writeU16(at + PackedDesc.ID, id);
    // The id and length are in place before the flags hand the descriptor back; WRITE says
    // whether the device wrote anything (§2.8.3).
    this.memory.writeU16(at + PackedDesc.FLAGS, usedBits(wrap) | (len > 0 ? DescFlag.WRITE : 0));
  }

  /**
   * Move the used position past `slots` descriptors; past the end of the ring, wrap to slot 0
   * and flip the Device Ring Wrap Counter (§2.8.1). Tests override it with broken ones.
   */
  protected advanceUsed(slots: number): void {
    this.nextUsed += slots;
    if (this.nextUsed >= this.size) {
      this.nextUsed -= this.size;
      this.usedWrap ^= 1;
    }
  }

  /**
   * Whether the driver wants an interrupt for what was pushed since the last call (§2.8.10):
   * its event suppression flags, and with EVENT_IDX the descriptor it names. Without EVENT_IDX
   * a descriptor-specific request is not valid; like the reserved value, it counts as enabled,
   * since a needless interrupt is harmless and a missing one stalls the driver.
   */
  takeInterrupt(): boolean {
    const advanced = this.usedSinceSignal;
    this.usedSinceSignal = 0;
    if (advanced === 0) return false;
    const flags = this.memory.readU16(this.driverEvent + EventSuppress.FLAGS) & 3;
    if (flags === RingEventFlag.DISABLE) return false;
    if (flags !== RingEventFlag.DESC || !this.eventIdx) return true;
    // Stryker disable next-line ArithmeticOperator: OFF_WRAP is 0, so + and - name the same address
    return this.eventDue(this.memory.readU16(this.driverEvent + EventSuppress.OFF_WRAP), this.nextUsed, this.usedWrap, advanced);
  }

  /** Whether the driver's descriptor event `offWrapWord` lies among the `advanced` slots before (`slot`, `wrap`); tests override it. */
  protected eventDue(offWrapWord: number, slot: number, wrap: number, advanced: number): boolean {
    return packedNeedsEvent(offWrapWord, slot, wrap, advanced, this.size);
  }

  /** Tell the driver whether kicks are wanted: with EVENT_IDX, for the next descriptor it makes available. */
  setKicks(enabled: boolean): void {
    // off_wrap is in place before the flags point at it.
    // Stryker disable next-line ArithmeticOperator: OFF_WRAP is 0, so + and - name the same address
    if (enabled && this.eventIdx) this.memory.writeU16(this.deviceEvent + EventSuppress.OFF_WRAP, offWrap(this.nextAvail, this.availWrap));
    this.memory.writeU16(this.deviceEvent + EventSuppress.FLAGS, !enabled ? RingEventFlag.DISABLE : this.eventIdx ? RingEventFlag.DESC : RingEventFlag.ENABLE);
  }

  save(): PackedQueueState {
    const inFlight: Array<readonly [number, number]> = [];
    this.inFlight.forEach((slots, id) => slots > 0 && inFlight.push([id, slots]));
    const { size, ready, descRing, driverEvent, deviceEvent, nextAvail, availWrap, nextUsed, usedWrap } = this;
    return { layout: 'packed', size, ready, descRing, driverEvent, deviceEvent, nextAvail, availWrap, nextUsed, usedWrap, inFlight };
  }

  /** Resume from {@link save} (checked by parseQueueState); the caller activates the queue again. */
  restore(state: PackedQueueState): void {
    this.size = state.size;
    this.ready = state.ready;
    this.descRing = state.descRing;
    this.driverEvent = state.driverEvent;
    this.deviceEvent = state.deviceEvent;
    this.resetRing();
    this.nextAvail = state.nextAvail;
    this.availWrap = state.availWrap;
    this.nextUsed = state.nextUsed;
    this.usedWrap = state.usedWrap;
    for (const [id, slots] of state.inFlight) {
      this.inFlight[id] = slots;
      this.inFlightSlots += slots;
    }
  }
}
