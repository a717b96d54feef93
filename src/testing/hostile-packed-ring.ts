/** Packed rings as a hostile driver could write them, for fuzzing a device. */
import fc from 'fast-check';
import { layoutPackedRing, type PackedRingLayout } from '../guest/packed-driver-queue.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { DESC_SIZE, DescFlag, PackedDescFlag } from '../virtio/constants.js';
import { EventSuppress, PackedDesc, availBits, usedBits } from '../virtio/packed-ring.js';
import { HOSTILE_RING_BASE, HOSTILE_TABLE_BASE, hostileAddress, type BytePatch } from './hostile-ring.js';
import { registerScript, type RegisterAccess } from './register-script.js';

/**
 * How a hostile driver marks a packed descriptor (§2.8.1), relative to the lap the slot is in
 * when the device reaches it: available, available in the other lap, or used (in this lap or
 * the other). These are the four ways to set the AVAIL and USED bits.
 */
export type PackedMark = 'avail' | 'avail-other-lap' | 'used' | 'used-other-lap';

/** A raw packed descriptor as a hostile driver may write it (addr as two u32 halves). */
export interface RawPackedDescriptor {
  readonly addrLow: number;
  readonly addrHigh: number;
  readonly len: number;
  readonly id: number;
  /** Every flag bit but AVAIL and USED, which `mark` sets. */
  readonly flags: number;
  readonly mark: PackedMark;
}

/** Everything a hostile driver controls over a packed ring: its bytes, where both sides start, and a script of register accesses. */
export interface HostilePackedRing {
  /** Any size, not only powers of two (§2.8). */
  readonly queueSize: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Where the device resumes reading: a slot and the Driver Ring Wrap Counter it expects there. */
  readonly startSlot: number;
  readonly startWrap: number;
  /** Descriptors the device holds at the start (one buffer, id `heldId`), just before the start slot. */
  readonly held: number;
  readonly heldId: number;
  readonly descriptors: readonly RawPackedDescriptor[];
  /** Eight raw descriptors, written at {@link HOSTILE_TABLE_BASE}, for indirect tables there. */
  readonly table: readonly RawPackedDescriptor[];
  /** The driver event suppression structure: what the device reads before interrupting. */
  readonly driverFlags: number;
  readonly driverOffWrap: number;
  /** What a driver that never initialised the device event structure leaves there (the device only writes it). */
  readonly deviceFlags: number;
  readonly deviceOffWrap: number;
  /** Unstructured bytes over the descriptor ring and both event structures. */
  readonly patches: readonly BytePatch[];
  readonly script: readonly RegisterAccess[];
}

const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const MARK_BITS = PackedDescFlag.AVAIL | PackedDescFlag.USED;

const mark: fc.Arbitrary<PackedMark> = fc.oneof({ weight: 8, arbitrary: fc.constant('avail' as const) }, { weight: 1, arbitrary: fc.constantFrom('avail-other-lap' as const, 'used' as const, 'used-other-lap' as const) });

/** Anything, with NEXT chains, WRITE and INDIRECT common; ids mostly inside the ring, some anywhere. */
const anyDescriptor = (queueSize: number): fc.Arbitrary<RawPackedDescriptor> =>
  fc
    .record({
      addr: hostileAddress,
      len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 32, 128, 4096, 0x10000, 0x7fffffff, 0xffffffff), u32),
      id: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: queueSize - 1 }) }, { weight: 1, arbitrary: u16 }),
      flags: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 3, 0, 2, 4) }, { weight: 1, arbitrary: u16 }),
      mark,
    })
    .map(({ addr, len, id, flags, mark }) => ({ addrLow: addr[0], addrHigh: addr[1], len, id, flags, mark }));

/** A well-formed list element: a small buffer in RAM, available, NEXT or not. */
const link = (queueSize: number): fc.Arbitrary<RawPackedDescriptor> =>
  fc.record({
    addrLow: fc.integer({ min: 0x8000, max: 0x8fff }),
    addrHigh: fc.constant(0),
    len: fc.integer({ min: 0, max: 64 }),
    id: fc.integer({ min: 0, max: queueSize - 1 }),
    flags: fc.constantFrom(0, DescFlag.NEXT, DescFlag.WRITE, DescFlag.NEXT | DescFlag.WRITE),
    mark: fc.constant('avail' as const),
  });

/** A descriptor pointing at (a part of) the indirect table, maybe with NEXT or WRITE too. */
const indirectPointer = (queueSize: number): fc.Arbitrary<RawPackedDescriptor> =>
  fc
    .record({
      first: fc.integer({ min: 0, max: 7 }),
      entries: fc.oneof(fc.constant(8), fc.integer({ min: 0, max: 8 })),
      flags: fc.constantFrom(DescFlag.INDIRECT, DescFlag.INDIRECT | DescFlag.WRITE, DescFlag.INDIRECT | DescFlag.NEXT),
      id: fc.integer({ min: 0, max: queueSize - 1 }),
    })
    .map(({ first, entries, flags, id }) => ({ addrLow: HOSTILE_TABLE_BASE + DESC_SIZE * first, addrHigh: 0, len: DESC_SIZE * entries, id, flags, mark: 'avail' as const }));

const descriptor = (queueSize: number): fc.Arbitrary<RawPackedDescriptor> =>
  fc.oneof({ weight: 3, arbitrary: anyDescriptor(queueSize) }, { weight: 2, arbitrary: link(queueSize) }, { weight: 1, arbitrary: indirectPointer(queueSize) });

/** Table entries: WRITE is their only meaningful flag; any other bits are reserved (§2.8.7). */
const tableEntry: fc.Arbitrary<RawPackedDescriptor> = fc.oneof(
  link(8).map((d) => ({ ...d, flags: d.flags & DescFlag.WRITE })),
  anyDescriptor(8),
);

/** Hostile packed rings for a queue that allows up to `maxQueueSize` entries (sizes 1 to it, most of them not powers of two). */
export function hostilePackedRing(maxQueueSize = 16): fc.Arbitrary<HostilePackedRing> {
  const sizes = fc.oneof(fc.integer({ min: 1, max: Math.min(maxQueueSize, 12) }), fc.integer({ min: 1, max: maxQueueSize }));
  return sizes.chain((queueSize) => {
    const area = layoutPackedRing(0, queueSize).end;
    return fc.record({
      queueSize: fc.constant(queueSize),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      startSlot: fc.integer({ min: 0, max: queueSize - 1 }),
      startWrap: fc.integer({ min: 0, max: 1 }),
      held: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: queueSize }) }),
      heldId: fc.integer({ min: 0, max: queueSize - 1 }),
      descriptors: fc.array(descriptor(queueSize), { minLength: queueSize, maxLength: queueSize }),
      table: fc.array(tableEntry, { minLength: 8, maxLength: 8 }),
      driverFlags: fc.oneof(fc.constantFrom(0, 1, 2, 3), u16),
      driverOffWrap: u16,
      deviceFlags: fc.constantFrom(0, 1, 2, 0xffff),
      deviceOffWrap: u16,
      patches: fc.array(fc.record({ at: fc.integer({ min: 0, max: area - 1 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }), { maxLength: 3 }),
      script: registerScript(HOSTILE_RING_BASE),
    });
  });
}

/** The ring the hostile driver sets up: at {@link HOSTILE_RING_BASE}, `queueSize` entries. */
export function hostilePackedLayout(input: HostilePackedRing): PackedRingLayout & { readonly end: number } {
  return layoutPackedRing(HOSTILE_RING_BASE, input.queueSize);
}

/**
 * The device's position where the hostile ring starts: `held` descriptors in flight just
 * before the start slot, so the used position is that far behind (a lap back when it wraps).
 */
export function hostilePackedStart(input: HostilePackedRing): { nextAvail: number; availWrap: number; nextUsed: number; usedWrap: number; inFlight: ReadonlyArray<readonly [number, number]> } {
  const behind = input.startSlot - input.held;
  const nextUsed = behind < 0 ? behind + input.queueSize : behind;
  const usedWrap = behind < 0 ? input.startWrap ^ 1 : input.startWrap;
  return { nextAvail: input.startSlot, availWrap: input.startWrap, nextUsed, usedWrap, inFlight: input.held > 0 ? [[input.heldId, input.held]] : [] };
}

function markBits(mark: PackedMark, wrap: number): number {
  switch (mark) {
    case 'avail':
      return availBits(wrap);
    case 'avail-other-lap':
      return availBits(wrap ^ 1);
    case 'used':
      return usedBits(wrap);
    case 'used-other-lap':
      return usedBits(wrap ^ 1);
  }
}

function writeDescriptor(memory: GuestMemory, at: number, d: RawPackedDescriptor, wrap: number): void {
  memory.writeU32(at + PackedDesc.ADDR, d.addrLow >>> 0);
  memory.writeU32(at + PackedDesc.ADDR + 4, d.addrHigh >>> 0);
  memory.writeU32(at + PackedDesc.LEN, d.len >>> 0);
  memory.writeU16(at + PackedDesc.ID, d.id & 0xffff);
  memory.writeU16(at + PackedDesc.FLAGS, (d.flags & ~MARK_BITS & 0xffff) | markBits(d.mark, wrap));
}

/**
 * Write the hostile bytes into guest memory as the guest would (not through a device): the
 * descriptor ring, each slot marked relative to the lap it is in when the device reaches it
 * from the start slot, the indirect table, both event structures, then the patches, and last
 * the start slot's flags (they publish the first buffer, §2.8.6). `memory` must hold
 * {@link HOSTILE_RAM}.
 */
export function placeHostilePackedRing(memory: GuestMemory, input: HostilePackedRing): void {
  const layout = hostilePackedLayout(input);
  // Slots from the start on are read in the start lap; those before it, a lap later.
  const lapOf = (slot: number): number => (slot >= input.startSlot ? input.startWrap : input.startWrap ^ 1);
  input.descriptors.forEach((d, i) => {
    if (i !== input.startSlot) writeDescriptor(memory, layout.descRing + DESC_SIZE * i, d, lapOf(i));
  });
  input.table.forEach((d, i) => writeDescriptor(memory, HOSTILE_TABLE_BASE + DESC_SIZE * i, d, 1));
  memory.writeU16(layout.driverEvent + EventSuppress.OFF_WRAP, input.driverOffWrap);
  memory.writeU16(layout.driverEvent + EventSuppress.FLAGS, input.driverFlags);
  memory.writeU16(layout.deviceEvent + EventSuppress.OFF_WRAP, input.deviceOffWrap);
  memory.writeU16(layout.deviceEvent + EventSuppress.FLAGS, input.deviceFlags);
  const area = layout.end - layout.descRing;
  for (const p of input.patches) memory.write(layout.descRing + p.at, p.bytes.subarray(0, Math.max(0, area - p.at)));
  writeDescriptor(memory, layout.descRing + DESC_SIZE * input.startSlot, input.descriptors[input.startSlot]!, input.startWrap);
}
