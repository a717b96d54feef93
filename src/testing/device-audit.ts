/** The audit of a device's end state after a hostile run. */
import type { GuestMemory } from '../memory/guest-memory.js';
import { Status } from '../virtio/constants.js';
import type { Segment } from '../virtio/descriptor-chain.js';
import type { VirtioDevice } from '../virtio/device.js';
import { isValidQueueSize, ringSizes, type SplitQueue, type SplitQueueState } from '../virtio/split-queue.js';
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
 * size and addresses; a reset or a re-pointing by the driver ends the checks):
 * - used.idx moved by no more than the number of chains popped;
 * - once anything was returned, used.idx in guest memory is the device's own count;
 * - a ring published more than its size ahead is refused, not served (§2.7.13);
 * - after entering NEEDS_RESET the device neither pops nor pushes again;
 * - a live device with the queue ready ends with no available chain left (served), unless it
 *   left a kick for later (its work budget ran out: `hasDeferredWork`);
 * - when the device's memory is a {@link WatchedMemory}: every used entry's length is at most
 *   the bytes the device wrote into that chain's writable buffers since it took the chain, so
 *   0 for a chain it wrote nothing into (§2.7.8.2).
 */
export class DeviceAudit {
  private readonly found: Violation[] = [];
  private readonly queue: SplitQueue | undefined;
  private readonly start: SplitQueueState | undefined;
  private atFailure: SplitQueueState | undefined;
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
    if (device.memory instanceof WatchedMemory && this.queue) this.auditUsedLengths(device.memory, this.queue);
  }

  /**
   * Watch the queue under test: what chains it hands out, what the device writes into their
   * writable buffers, and what length each used entry claims. The queue's methods are wrapped
   * on this one instance; the device's behaviour does not change.
   */
  private auditUsedLengths(memory: WatchedMemory, queue: SplitQueue): void {
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
      if (chain) this.inFlight.set(chain.head, { writable: chain.writable, written: [] });
      return chain;
    };
    queue.push = (head, len) => {
      asRing(() => push(head, len));
      // What the guest sees: the entry just written, read back from RAM.
      const at = queue.usedRing + 4 + 8 * ((queue.save().nextUsed - 1 + queue.size) % queue.size);
      if (!this.ram.contains(at, 8)) return;
      const id = this.ram.readU32(at);
      const claimed = this.ram.readU32(at + 4);
      const chain = this.inFlight.get(id);
      // A chain taken before the audit started is not judged.
      if (chain === undefined) return;
      this.inFlight.delete(id);
      const written = bytesWritten(chain.writable, chain.written);
      if (claimed > written) this.found.push({ kind: 'used-length', message: `used entry for head ${id} says ${claimed} bytes, the device wrote ${written} into its writable buffers (§2.7.8.2)` });
    };
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
    if (q === undefined || s === undefined || this.device.queues[this.index] !== q) return false;
    return q.size === s.size && q.descTable === s.descTable && q.availRing === s.availRing && q.usedRing === s.usedRing;
  }

  private validLayout(q: SplitQueue): boolean {
    if (!isValidQueueSize(q.size, q.maxSize)) return false;
    const sizes = ringSizes(q.size);
    const areas = [
      [q.descTable, sizes.desc, 16],
      [q.availRing, sizes.avail, 2],
      [q.usedRing, sizes.used, 4],
    ] as const;
    return areas.every(([gpa, length, align]) => gpa % align === 0 && this.ram.contains(gpa, length));
  }

  /**
   * Call after the first kick, with how far the driver published avail.idx ahead of the start.
   * More than the queue size is a guest error (§2.7.13): the device may refuse the ring or not
   * look at it yet, but must not have taken chains from it.
   */
  afterFirstKick(published: number): void {
    if (!this.queueUnchanged() || (published & 0xffff) <= this.start!.size) return;
    const taken = (this.queue!.save().nextAvail - this.start!.nextAvail) & 0xffff;
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
    const popped = (now.nextAvail - start.nextAvail) & 0xffff;
    const pushed = (now.nextUsed - start.nextUsed) & 0xffff;
    if (pushed > popped) this.flag(`used.idx moved by ${pushed}, but only ${popped} chains were popped`);
    const usedIdx = this.ram.readU16(now.usedRing + 2);
    if (pushed > 0 && usedIdx !== now.nextUsed) this.flag(`used.idx in guest memory is ${usedIdx}, but the device pushed up to ${now.nextUsed}`);
    const failed = this.atFailure;
    if (needsReset && failed !== undefined && (failed.nextAvail !== now.nextAvail || failed.nextUsed !== now.nextUsed)) {
      this.flag('the device kept serving the queue after entering NEEDS_RESET');
    }
    const pending = (this.ram.readU16(now.availRing + 2) - now.nextAvail) & 0xffff;
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
