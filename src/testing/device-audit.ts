/** The audit of a device's end state after a hostile run. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { Status } from '../virtio/constants.js';
import type { Segment } from '../virtio/descriptor-chain.js';
import type { Virtqueue, VirtioDevice } from '../virtio/device.js';
import { PACKED_ALIGN, PackedDesc, isAvailable, isUsed, packedRingSizes } from '../virtio/packed-ring.js';
import type { QueueState } from '../virtio/queue-state.js';
import { isValidQueueSize, ringSizes } from '../virtio/split-queue.js';
import type { Violation } from './violation.js';
import { WatchedMemory } from './watched-memory.js';

/**
 * Watches a device through one hostile run and judges how it ended. A device ends either in
 * NEEDS_RESET with a reason, or served consistently, or stopped by the driver itself; and
 * whichever it is, these hold ("consistent"):
 * - status bit 64 (NEEDS_RESET) is set exactly when a reason is recorded;
 * - entering NEEDS_RESET while DRIVER_OK raised a config-change interrupt (§2.1.2);
 * - no used-buffer interrupt while the device is not live (§2.1.2);
 * - the interrupt line is high exactly while InterruptStatus is non-zero;
 * - a live device has no ready queue whose layout breaks §2.7 (size, alignment, in RAM).
 * For the queue under test, as long as it is the queue that was set up (same object, same
 * size and addresses, a packed ring not started afresh; a reset, a re-pointing or disabling a
 * packed queue by the driver ends the checks):
 * - no more buffers came back than the device took;
 * - split ring: once anything was returned, used.idx in guest memory is the device's own
 *   count, and a ring published more than its size ahead is refused, not served (§2.7.13);
 * - packed ring: every used descriptor carries the used bits of its lap (§2.8.1);
 * - after entering NEEDS_RESET the device neither pops nor pushes again;
 * - a live device with the queue ready ends with no available chain left (served), unless it
 *   left a kick for later (its work budget ran out: `hasDeferredWork`);
 * - when the device's memory is a {@link WatchedMemory}: every used entry's length is at most
 *   the bytes the device wrote into that chain's writable buffers since it took the chain, so
 *   0 for a chain it wrote nothing into (§2.7.8.2, §2.8.4).
 */
export class DeviceAudit {
  private readonly found: Violation[] = [];
  private readonly queue: Virtqueue | undefined;
  private readonly start: QueueState | undefined;
  private atFailure: QueueState | undefined;
  /** Buffers the queue under test handed out and took back. */
  private popped = 0;
  private pushed = 0;
  /** The driver disabled the packed queue under test, which starts its ring afresh. */
  private restarted = false;
  private configInterruptOwed = false;
  private irqLevel = false;
  /** Chains taken and not returned: their writable buffers and the bytes written into them. */
  private readonly inFlight = new Map<number, { writable: readonly Segment[]; written: Array<[number, number]> }>();
  /** The queue itself is writing its ring (a used entry, avail_event): not a buffer write. */
  private ringWrite = false;

  /** Start watching; `ram` is guest memory read without going through the device's view. */
  constructor(
    private readonly device: VirtioDevice,
    private readonly index: number,
    private readonly ram: GuestMemory,
  ) {
    this.queue = device.queues[index];
    this.start = this.queue?.save();
    device.errors$.subscribe(() => {
      if (device.status & Status.DRIVER_OK) this.configInterruptOwed = true;
      if (this.queueUnchanged()) this.atFailure = this.queue!.save();
    });
    device.interrupt$.subscribe((event) => {
      if (event.kind === 'config') this.configInterruptOwed = false;
      else if (!device.isLive) this.flag(`used-buffer interrupt for queue ${event.queue} while the device is not live (§2.1.2)`);
    });
    device.irqLevel$.subscribe((level) => (this.irqLevel = level));
    if (this.queue) this.watchQueue(this.queue, device.memory instanceof WatchedMemory ? device.memory : undefined);
  }

  /**
   * Watch the queue under test: how many chains it hands out and takes back, the used entries
   * it writes, and (with a WatchedMemory) what the device writes into their writable buffers
   * and what length each used entry claims. The queue's methods are wrapped on this one
   * instance; the device's behaviour does not change.
   */
  private watchQueue(queue: Virtqueue, memory: WatchedMemory | undefined): void {
    const pop = queue.pop.bind(queue);
    const push = queue.push.bind(queue);
    const asRing = <T>(op: () => T): T => {
      this.ringWrite = true;
      try {
        return op();
      } finally {
        this.ringWrite = false;
      }
    };
    queue.pop = (limits) => {
      const chain = asRing(() => pop(limits));
      if (chain) {
        this.popped++;
        this.inFlight.set(chain.head, { writable: chain.writable, written: [] });
      }
      return chain;
    };
    queue.push = (head, len) => {
      // Where this entry goes, as the guest reads it back from RAM afterwards.
      const at = queue.layout === 'split' ? queue.usedRing + 4 + 8 * (queue.save().nextUsed % queue.size) : queue.descRing + 16 * queue.save().nextUsed;
      const wrap = queue.layout === 'packed' ? queue.save().usedWrap : 0;
      asRing(() => push(head, len));
      this.pushed++;
      if (!this.ram.contains(at, queue.layout === 'split' ? 8 : 16)) return;
      const id = queue.layout === 'split' ? this.ram.readU32(at) : this.ram.readU16(at + PackedDesc.ID);
      const claimed = this.ram.readU32(at + (queue.layout === 'split' ? 4 : PackedDesc.LEN));
      if (queue.layout === 'packed' && !isUsed(this.ram.readU16(at + PackedDesc.FLAGS), wrap)) {
        this.flag(`the used descriptor for buffer ${id} does not carry the used bits of wrap counter ${wrap} (§2.8.1)`);
      }
      const chain = this.inFlight.get(id);
      // A chain taken before the audit started is not judged.
      if (chain === undefined || memory === undefined) return;
      this.inFlight.delete(id);
      const written = bytesWritten(chain.writable, chain.written);
      if (claimed > written) this.found.push({ kind: 'used-length', message: `used entry for head ${id} says ${claimed} bytes, the device wrote ${written} into its writable buffers (§2.7.8.2)` });
    };
    if (queue.layout === 'packed') {
      const resetRing = queue.resetRing.bind(queue);
      queue.resetRing = () => {
        this.restarted = true;
        resetRing();
      };
    }
    if (memory === undefined) return;
    const previous = memory.onWrite;
    memory.onWrite = (gpa, length) => {
      previous?.(gpa, length);
      if (this.ringWrite) return;
      for (const chain of this.inFlight.values()) chain.written.push([gpa, gpa + length]);
    };
  }

  private flag(message: string): void {
    this.found.push({ kind: 'inconsistent', message });
  }

  /** The queue under test is still the one set up, at the same place. */
  private queueUnchanged(): boolean {
    const q = this.queue;
    const s = this.start;
    if (q === undefined || s === undefined || this.restarted || this.device.queues[this.index] !== q) return false;
    const now = q.save();
    return now.size === s.size && areas(now).every((gpa, i) => gpa === areas(s)[i]);
  }

  private validLayout(q: Virtqueue): boolean {
    if (q.layout === 'split' ? !isValidQueueSize(q.size, q.maxSize) : !(Number.isInteger(q.size) && q.size >= 1 && q.size <= q.maxSize)) return false;
    const split = ringSizes(q.size);
    const packed = packedRingSizes(q.size);
    const checks =
      q.layout === 'split'
        ? ([
            [q.descTable, split.desc, 16],
            [q.availRing, split.avail, 2],
            [q.usedRing, split.used, 4],
          ] as const)
        : ([
            [q.descRing, packed.desc, PACKED_ALIGN.desc],
            [q.driverEvent, packed.driver, PACKED_ALIGN.driver],
            [q.deviceEvent, packed.device, PACKED_ALIGN.device],
          ] as const);
    return checks.every(([gpa, length, align]) => gpa % align === 0 && this.ram.contains(gpa, length));
  }

  /**
   * Call after the first kick, with how far the driver published avail.idx ahead of the start.
   * More than the queue size is a guest error (§2.7.13): the device may refuse the ring or not
   * look at it yet, but must not have taken chains from it.
   */
  afterFirstKick(published: number): void {
    const start = this.start;
    const now = this.queue?.save();
    if (!this.queueUnchanged() || start?.layout !== 'split' || now?.layout !== 'split' || (published & 0xffff) <= start.size) return;
    const taken = (now.nextAvail - start.nextAvail) & 0xffff;
    if (taken > 0) this.flag(`took ${taken} chains from a ring published ${published & 0xffff} ahead, queue size ${this.start!.size} (§2.7.13)`);
  }

  /** Everything found, the end state included. Call once, after the run. */
  finish(): Violation[] {
    const d = this.device;
    const needsReset = (d.status & Status.DEVICE_NEEDS_RESET) !== 0;
    if (needsReset !== (d.needsResetReason !== undefined)) this.flag(`NEEDS_RESET is ${needsReset ? 'set' : 'clear'} but a reason is ${needsReset ? 'missing' : 'recorded'}`);
    if (this.configInterruptOwed) this.flag('entered NEEDS_RESET while DRIVER_OK without a config-change interrupt (§2.1.2)');
    if (this.irqLevel !== (d.interruptStatus !== 0)) this.flag(`interrupt line ${this.irqLevel ? 'high' : 'low'} with InterruptStatus ${d.interruptStatus}`);
    if (d.isLive) d.queues.forEach((q, i) => q.ready && !this.validLayout(q) && this.flag(`live with queue ${i} ready in an invalid layout (§2.7)`));
    if (!this.queueUnchanged()) return this.found;

    const start = this.start!;
    const now = this.queue!.save();
    if (this.pushed > this.popped) this.flag(`${this.pushed} buffers came back, but only ${this.popped} chains were popped`);
    let pending = 0;
    if (now.layout === 'split' && start.layout === 'split') {
      const popped = (now.nextAvail - start.nextAvail) & 0xffff;
      const pushed = (now.nextUsed - start.nextUsed) & 0xffff;
      if (pushed > popped) this.flag(`used.idx moved by ${pushed}, but only ${popped} chains were popped`);
      const usedIdx = this.ram.readU16(now.usedRing + 2);
      if (pushed > 0 && usedIdx !== now.nextUsed) this.flag(`used.idx in guest memory is ${usedIdx}, but the device pushed up to ${now.nextUsed}`);
      pending = (this.ram.readU16(now.availRing + 2) - now.nextAvail) & 0xffff;
    } else if (now.layout === 'packed') {
      pending = isAvailable(this.ram.readU16(now.descRing + 16 * now.nextAvail + PackedDesc.FLAGS), now.availWrap) ? 1 : 0;
    }
    const failed = this.atFailure;
    if (needsReset && failed !== undefined && JSON.stringify(positions(failed)) !== JSON.stringify(positions(now))) {
      this.flag('the device kept serving the queue after entering NEEDS_RESET');
    }
    if (d.isLive && this.queue!.ready && pending !== 0 && !d.hasDeferredWork) this.flag(`a live device left ${pending} available chains after a kick, and no work for later`);
    return this.found;
  }
}

/**
 * Bytes of the chain's buffer space that `writes` ([start, end) ranges) reached: per writable
 * buffer, the distinct bytes written inside it, summed (buffers that alias each other each
 * count the bytes they share, as the driver sees them as distinct parts of one buffer).
 */
function bytesWritten(buffers: readonly Segment[], writes: ReadonlyArray<readonly [number, number]>): number {
  let total = 0;
  for (const b of buffers) {
    const inside: Array<[number, number]> = [];
    for (const [start, end] of writes) {
      const from = Math.max(start, b.gpa);
      const to = Math.min(end, b.gpa + b.length);
      if (from < to) inside.push([from, to]);
    }
    inside.sort((x, y) => x[0] - y[0]);
    let reached = -Infinity;
    for (const [from, to] of inside) {
      if (to <= reached) continue;
      total += to - Math.max(from, reached);
      reached = to;
    }
  }
  return total;
}

/** A saved queue's three area addresses (Descriptor, Driver, Device Area). */
function areas(state: QueueState): number[] {
  return state.layout === 'split' ? [state.descTable, state.availRing, state.usedRing] : [state.descRing, state.driverEvent, state.deviceEvent];
}

/** Where the device is in a saved queue's ring, on either side. */
function positions(state: QueueState): number[] {
  return state.layout === 'split' ? [state.nextAvail, state.nextUsed] : [state.nextAvail, state.availWrap, state.nextUsed, state.usedWrap];
}
