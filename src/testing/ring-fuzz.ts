/** The hostile ring property: a hostile split ring and a register script in front of any virtio device. */
import fc from 'fast-check';
import { MmioDriver } from '../guest/mmio-driver.js';
import { FlatMemory } from '../memory/flat-memory.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { Feature, featureBit, hasFeature } from '../virtio/constants.js';
import type { Virtqueue, VirtioDevice } from '../virtio/device.js';
import { MmioReg, MmioTransport } from '../virtio/transport/mmio.js';
import { DeviceAudit } from './device-audit.js';
import { hostilePackedLayout, hostilePackedRing, hostilePackedStart, placeHostilePackedRing, type HostilePackedRing } from './hostile-packed-ring.js';
import { HOSTILE_RAM, hostileLayout, hostileRing, placeHostileRing, type HostileRing } from './hostile-ring.js';
import type { RegisterAccess } from './register-script.js';
import { ViolationError, type Violation } from './violation.js';
import { WatchedMemory } from './watched-memory.js';

/**
 * Guest memory accesses one input may cause before it counts as an unbounded loop. The echo
 * device needs about a hundred per input and the balloon about a thousand at most; a walk
 * bounded by the queue size stays far below this, a loop without a bound reaches it at once.
 */
export const DEFAULT_ACCESS_BUDGET = 100_000;

/** One hostile ring run: the device under test, its queue, the access budget, an observer. */
export interface HostileRunOptions<D extends VirtioDevice> {
  /** Build the device under test on the guest memory it is given (a {@link WatchedMemory}). */
  readonly makeDevice: (memory: GuestMemory) => D;
  /** The queue the hostile ring is placed on (default 0). */
  readonly queue?: number;
  /** Guest memory accesses allowed per input (default {@link DEFAULT_ACCESS_BUDGET}). */
  readonly budget?: number;
  /** Device-specific checks (e.g. on what it published): push a message per violation. */
  readonly observe?: (device: D, violations: string[]) => void;
}

/**
 * Run one hostile input against a device through its mmio transport and report every
 * violation (see {@link ViolationKind}); an empty list means the device survived. A
 * well-behaved driver sets the queue up, both sides move to the input's start index, the
 * guest overwrites the ring with the hostile bytes, and then the device sees a kick, the
 * register script, and a last kick.
 */
export function runHostileRing<D extends VirtioDevice>(input: HostileRing, options: HostileRunOptions<D>): Violation[] {
  const ring = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC) | featureBit(Feature.RING_PACKED);
  const chosen = (input.eventIdx ? featureBit(Feature.EVENT_IDX) : 0n) | (input.indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
  return runHostile(
    {
      // Everything the device offers, so that every queue exists; the ring features as drawn.
      features: (offered) => (offered & ~ring) | chosen,
      setUp: (driver, index) => void driver.setupQueue(index, hostileLayout(input), { eventIdx: input.eventIdx, startIndex: input.startIndex }),
      resume: (q) => {
        if (q.layout === 'split') q.restore({ ...q.save(), nextAvail: input.startIndex, nextUsed: input.startIndex });
      },
      place: (memory) => placeHostileRing(memory, input),
      published: input.published,
      script: input.script,
    },
    options,
  );
}

/**
 * {@link runHostileRing} for a packed ring (VIRTIO_F_RING_PACKED, which the device must offer):
 * the device resumes at the input's start slot and wrap counter, holding `held` descriptors.
 */
export function runHostilePackedRing<D extends VirtioDevice>(input: HostilePackedRing, options: HostileRunOptions<D>): Violation[] {
  const ring = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);
  const chosen = featureBit(Feature.RING_PACKED) | (input.eventIdx ? featureBit(Feature.EVENT_IDX) : 0n) | (input.indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
  return runHostile(
    {
      features: (offered) => {
        if (!hasFeature(offered, Feature.RING_PACKED)) throw new Error('the device does not offer VIRTIO_F_RING_PACKED');
        return (offered & ~ring) | chosen;
      },
      setUp: (driver, index) => void driver.setupPackedQueue(index, hostilePackedLayout(input), { eventIdx: input.eventIdx }),
      resume: (q) => {
        if (q.layout === 'packed') q.restore({ ...q.save(), ...hostilePackedStart(input) });
      },
      place: (memory) => placeHostilePackedRing(memory, input),
      published: 0,
      script: input.script,
    },
    options,
  );
}

/** What a hostile run does differently for each ring layout. */
interface HostileSetup {
  /** The features the well-behaved driver accepts of those offered. */
  readonly features: (offered: bigint) => bigint;
  readonly setUp: (driver: MmioDriver, index: number) => void;
  /** Move the device's queue to where the hostile ring starts. */
  readonly resume: (queue: Virtqueue) => void;
  /** Write the hostile bytes, as the guest does. */
  readonly place: (memory: GuestMemory) => void;
  /** How far a split ring's avail.idx runs ahead of the start (0 for packed rings). */
  readonly published: number;
  readonly script: readonly RegisterAccess[];
}

function runHostile<D extends VirtioDevice>(setup: HostileSetup, options: HostileRunOptions<D>): Violation[] {
  const index = options.queue ?? 0;
  const found: Violation[] = [];
  const memory = new FlatMemory(HOSTILE_RAM);
  const watched = new WatchedMemory(memory, options.budget ?? DEFAULT_ACCESS_BUDGET);
  const device = options.makeDevice(watched);
  const transport = new MmioTransport(device);
  const observed: string[] = [];
  options.observe?.(device, observed);
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      found.push({ kind: 'threw', message: `${what}: ${error instanceof Error ? error.message : String(error)}` });
    }
  };

  // A well-behaved setup first: negotiate, place the ring, go live, resume at the start.
  attempt('setup', () => {
    const driver = new MmioDriver(transport, memory);
    driver.negotiate(setup.features);
    setup.setUp(driver, index);
    driver.driverOk();
    setup.resume(device.queues[index]!);
  });
  const audit = new DeviceAudit(device, index, memory);
  // Then the hostile bytes, written by the guest, not through the device.
  setup.place(memory);

  // §2.1.2, §2.4, §4.2.2.2: a device that is not live, or a queue that is not ready, is silent.
  const step = (what: string, fn: () => void, notified?: number): void => {
    const serving = (): boolean => device.isLive && (notified === undefined || device.queues[notified]?.ready === true);
    const before = serving();
    const accesses = watched.accesses;
    attempt(what, fn);
    if (!before && !serving() && watched.accesses !== accesses) {
      found.push({ kind: 'inconsistent', message: `${what}: guest memory touched by a device that is not serving` });
    }
  };
  const kick = (): void => step('kick', () => transport.write(MmioReg.QUEUE_NOTIFY, 4, index), index);
  kick();
  audit.afterFirstKick(setup.published);
  for (const a of setup.script) {
    if (a.kind === 'kick') kick();
    else if (a.kind === 'read') step(`read 0x${a.offset.toString(16)}/${a.size}`, () => void transport.read(a.offset, a.size));
    else {
      const notified = a.offset === MmioReg.QUEUE_NOTIFY && a.size === 4 ? a.value : undefined;
      step(`write 0x${a.offset.toString(16)}/${a.size} = 0x${a.value.toString(16)}`, () => transport.write(a.offset, a.size, a.value), notified);
    }
  }
  kick();

  if (watched.budgetExceeded) found.push({ kind: 'unbounded', message: `more than ${options.budget ?? DEFAULT_ACCESS_BUDGET} guest memory accesses` });
  for (const [gpa, length] of watched.outOfRange.slice(0, 3)) found.push({ kind: 'out-of-range', message: `access at 0x${gpa.toString(16)}+${length}` });
  const reason = device.needsResetReason;
  if (reason?.kind === 'internal') found.push({ kind: 'internal', message: reason.message });
  found.push(...audit.finish());
  for (const message of observed) found.push({ kind: 'device-rule', message });
  return found;
}

/** The hostile ring property: a device, and the queues a ring may be put on. */
export interface HostileRingPropertyOptions<D extends VirtioDevice> extends Omit<HostileRunOptions<D>, 'queue'> {
  /** Queues to put the hostile ring on, one drawn per input (default [0]). */
  readonly queues?: readonly number[];
  /** Largest queue size to draw (default 16; the device's QueueNumMax must allow it). */
  readonly maxQueueSize?: number;
}

/**
 * The hostile-ring property: for every {@link HostileRing} (and queue), {@link runHostileRing}
 * finds nothing. Failures throw a {@link ViolationError}. Use it with `fc.assert` in tests and
 * `fc.check` in fuzz campaigns.
 */
export function hostileRingProperty<D extends VirtioDevice>(options: HostileRingPropertyOptions<D>): fc.IPropertyWithHooks<[HostileRing, number]> {
  const queues = options.queues ?? [0];
  return fc.property(hostileRing(options.maxQueueSize ?? 16), fc.constantFrom(...queues), (input, queue) => {
    const violations = runHostileRing(input, { ...options, queue });
    if (violations.length > 0) throw new ViolationError(violations);
  });
}

/**
 * The hostile-ring property for packed rings: for every {@link HostilePackedRing} (and queue),
 * {@link runHostilePackedRing} finds nothing. The device must offer VIRTIO_F_RING_PACKED.
 */
export function hostilePackedRingProperty<D extends VirtioDevice>(options: HostileRingPropertyOptions<D>): fc.IPropertyWithHooks<[HostilePackedRing, number]> {
  const queues = options.queues ?? [0];
  return fc.property(hostilePackedRing(options.maxQueueSize ?? 16), fc.constantFrom(...queues), (input, queue) => {
    const violations = runHostilePackedRing(input, { ...options, queue });
    if (violations.length > 0) throw new ViolationError(violations);
  });
}
