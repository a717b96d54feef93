import fc from 'fast-check';
import { layoutRing } from '../guest/driver-queue.js';
import { MmioDriver } from '../guest/mmio-driver.js';
import { FlatMemory } from '../memory/flat-memory.js';
import { Feature, Status, featureBit } from '../virtio/constants.js';
import type { VirtioDevice } from '../virtio/device.js';
import { MmioReg, MmioTransport } from '../virtio/transport/mmio.js';
import { WatchedMemory } from './watched-memory.js';

/** Guest RAM for hostile inputs: two 64 KiB regions with a 64 KiB hole between them. */
export const HOSTILE_RAM = [
  { gpa: 0x00000, size: 0x10000 },
  { gpa: 0x20000, size: 0x10000 },
] as const;
const RING_BASE = 0x1000;
const TABLE_BASE = 0x20000;

/** A raw descriptor as a hostile driver may write it (addr as two u32 halves, so any u64). */
export interface RawDescriptor {
  readonly addrLow: number;
  readonly addrHigh: number;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

/** One register access, or a notification of the queue under test. */
export type RegisterAccess = { readonly kind: 'read' | 'write'; readonly offset: number; readonly size: number; readonly value: number } | { readonly kind: 'kick' };

/** Everything a hostile driver controls: the ring's bytes and a script of register accesses. */
export interface HostileRing {
  readonly queueSize: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  readonly descriptors: readonly RawDescriptor[];
  /** An indirect table's worth of raw descriptors, written at the start of the second region. */
  readonly table: readonly RawDescriptor[];
  readonly heads: readonly number[];
  /** How far avail.idx is moved (past the queue size is a protocol error to detect). */
  readonly published: number;
  readonly availFlags: number;
  readonly usedEvent: number;
  readonly script: readonly RegisterAccess[];
}

/** Addresses that hit RAM, straddle its ends, fall in the hole, or lie far beyond (even past 2^53). */
const address: fc.Arbitrary<[number, number]> = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((a): [number, number] => [a, 0]),
  fc.integer({ min: 0x20000, max: 0x2ffff }).map((a): [number, number] => [a, 0]),
  fc.integer({ min: 0x10000, max: 0x1ffff }).map((a): [number, number] => [a, 0]),
  fc.constantFrom<[number, number]>([TABLE_BASE, 0], [0xfff0, 0], [0x2fff0, 0], [0xffffffff, 0], [0, 1], [0, 0x200000], [0xffffffff, 0xffffffff]),
);

const descriptor = (tableSize: number): fc.Arbitrary<RawDescriptor> =>
  fc.record({
    addr: address,
    len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 32, 4096, 0x10000, 0x7fffffff, 0xffffffff), fc.nat()),
    // NEXT is common so that chains and loops are common; INDIRECT and WRITE less so.
    flags: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(1, 3, 0, 2) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
    next: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: Math.max(0, tableSize - 1) }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
  }).map(({ addr, len, flags, next }) => ({ addrLow: addr[0], addrHigh: addr[1], len, flags, next }));

const access: fc.Arbitrary<RegisterAccess> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'kick' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constantFrom('read' as const, 'write' as const),
      offset: fc.oneof(fc.integer({ min: 0, max: 0x43 }).map((w) => w * 4), fc.integer({ min: 0, max: 0x1100 })),
      size: fc.oneof({ weight: 4, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: fc.constantFrom(1, 2, 3, 8) }),
      value: fc.oneof(fc.nat(), fc.constantFrom(0, 1, 2, 0xffffffff, 0x74726976)),
    }),
  },
);

/** Hostile rings for a queue that allows up to `maxQueueSize` entries. */
export function hostileRing(maxQueueSize = 16): fc.Arbitrary<HostileRing> {
  const sizes = [1, 2, 4, 8, 16, 32].filter((s) => s <= maxQueueSize);
  return fc.constantFrom(...sizes).chain((queueSize) =>
    fc.record({
      queueSize: fc.constant(queueSize),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      descriptors: fc.array(descriptor(queueSize), { minLength: queueSize, maxLength: queueSize }),
      table: fc.array(descriptor(8), { minLength: 0, maxLength: 8 }),
      heads: fc.array(fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: queueSize - 1 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }), { minLength: queueSize, maxLength: queueSize }),
      published: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: queueSize }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) }),
      availFlags: fc.constantFrom(0, 1, 0xffff),
      usedEvent: fc.integer({ min: 0, max: 0xffff }),
      script: fc.array(access, { maxLength: 12 }),
    }),
  );
}

export interface HostileRunOptions<D extends VirtioDevice> {
  /** Build the device under test on the (watched) guest memory. */
  readonly makeDevice: (memory: WatchedMemory) => D;
  /** The queue the hostile ring is placed on. */
  readonly queue: number;
  /** Guest memory accesses allowed per input before the run counts as unbounded. */
  readonly budget?: number;
  /** Extra checks on the device (e.g. what it published); push violations to the list. */
  readonly observe?: (device: D, violations: string[]) => void;
}

function writeDescriptor(memory: FlatMemory, at: number, d: RawDescriptor): void {
  memory.writeU32(at, d.addrLow >>> 0);
  memory.writeU32(at + 4, d.addrHigh >>> 0);
  memory.writeU32(at + 8, d.len >>> 0);
  memory.writeU16(at + 12, d.flags & 0xffff);
  memory.writeU16(at + 14, d.next & 0xffff);
}

/**
 * Run one hostile input against a device through its mmio transport and report what went
 * wrong: an exception that reached the VMM, a guest memory access outside RAM, an unbounded
 * walk, or an inconsistent end state. An empty list means the device survived.
 */
export function runHostileRing<D extends VirtioDevice>(input: HostileRing, options: HostileRunOptions<D>): string[] {
  const violations: string[] = [];
  const memory = new FlatMemory(HOSTILE_RAM);
  const watched = new WatchedMemory(memory, options.budget ?? 1_000_000);
  const device = options.makeDevice(watched);
  const transport = new MmioTransport(device);
  options.observe?.(device, violations);
  const attempt = (what: string, fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      violations.push(`${what} threw: ${error instanceof Error ? error.message : String(error)}`);
    }
  };

  // A well-behaved setup first: negotiate, place the ring, go live.
  const driver = new MmioDriver(transport, memory);
  const layout = layoutRing(RING_BASE, input.queueSize);
  attempt('setup', () => {
    const ring = featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC);
    const chosen = (input.eventIdx ? featureBit(Feature.EVENT_IDX) : 0n) | (input.indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
    // Everything the device offers, so that every queue exists; the ring features as drawn.
    driver.negotiate((offered) => (offered & ~ring) | chosen);
    driver.setupQueue(options.queue, layout, { eventIdx: input.eventIdx });
    driver.driverOk();
  });
  // Then the hostile bytes, written by the guest, not through the device.
  input.descriptors.forEach((d, i) => writeDescriptor(memory, layout.descTable + 16 * i, d));
  input.table.forEach((d, i) => writeDescriptor(memory, TABLE_BASE + 16 * i, d));
  input.heads.forEach((h, i) => memory.writeU16(layout.availRing + 4 + 2 * i, h & 0xffff));
  memory.writeU16(layout.availRing, input.availFlags);
  memory.writeU16(layout.availRing + 4 + 2 * input.queueSize, input.usedEvent);
  memory.writeU16(layout.availRing + 2, input.published & 0xffff);

  const kick = (): void => attempt('kick', () => transport.write(MmioReg.QUEUE_NOTIFY, 4, options.queue));
  kick();
  for (const a of input.script) {
    if (a.kind === 'kick') kick();
    else if (a.kind === 'read') attempt(`read 0x${a.offset.toString(16)}`, () => void transport.read(a.offset, a.size));
    else attempt(`write 0x${a.offset.toString(16)}`, () => transport.write(a.offset, a.size, a.value));
  }
  kick();

  if (watched.budgetExceeded) violations.push('unbounded: the device kept accessing guest memory past the budget');
  for (const [gpa, length] of watched.outOfRange.slice(0, 3)) violations.push(`access outside RAM: 0x${gpa.toString(16)}+${length}`);
  const needsReset = (device.status & Status.DEVICE_NEEDS_RESET) !== 0;
  if (needsReset !== (device.needsResetReason !== undefined)) violations.push('NEEDS_RESET status and reason disagree');
  if (device.needsResetReason?.kind === 'internal') violations.push(`internal error: ${device.needsResetReason.message}`);
  return violations;
}
