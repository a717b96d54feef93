/** Hostile split rings: arbitraries for descriptor bytes, indices and layouts, and how to place them in RAM. */
import fc from 'fast-check';
import { layoutRing, type RingLayout } from '../guest/driver-queue.js';
import type { GuestMemory } from '../memory/guest-memory.js';
import { DESC_SIZE, DescFlag } from '../virtio/constants.js';
import { ringSizes } from '../virtio/split-queue.js';
import { registerScript, type RegisterAccess } from './register-script.js';

/** Guest RAM for hostile inputs: two 64 KiB regions with a 64 KiB hole between them. */
export const HOSTILE_RAM = [
  { gpa: 0x00000, size: 0x10000 },
  { gpa: 0x20000, size: 0x10000 },
] as const;
/** Where the ring under test lives (set up by a well-behaved driver, then overwritten). */
export const HOSTILE_RING_BASE = 0x1000;
/** Where the hostile indirect table lives: the first bytes of the second region. */
export const HOSTILE_TABLE_BASE = 0x20000;

/** A raw descriptor as a hostile driver may write it (addr as two u32 halves, so any u64). */
export interface RawDescriptor {
  readonly addrLow: number;
  readonly addrHigh: number;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

/** Bytes written over the ring area last, at `at` bytes from the descriptor table. */
export interface BytePatch {
  readonly at: number;
  readonly bytes: Uint8Array;
}

/** Everything a hostile driver controls: the ring's bytes and a script of register accesses. */
export interface HostileRing {
  readonly queueSize: number;
  readonly eventIdx: boolean;
  readonly indirect: boolean;
  /** Where both sides' ring indices start (a resumed queue), often just below the u16 wrap. */
  readonly startIndex: number;
  readonly descriptors: readonly RawDescriptor[];
  /** Eight raw descriptors, written at {@link HOSTILE_TABLE_BASE}, for indirect tables there. */
  readonly table: readonly RawDescriptor[];
  readonly heads: readonly number[];
  /** How far avail.idx is moved past the start (past the queue size is an error to detect). */
  readonly published: number;
  readonly availFlags: number;
  readonly usedEvent: number;
  /** What a driver that never initialised its used ring leaves there (the device only writes it). */
  readonly usedFlags: number;
  readonly usedIdx: number;
  readonly availEvent: number;
  /** Unstructured bytes over the descriptor table and both rings. */
  readonly patches: readonly BytePatch[];
  readonly script: readonly RegisterAccess[];
}

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u16 = fc.integer({ min: 0, max: 0xffff });

/** Addresses as [low, high] halves: in either region, straddling their ends, in the hole, far beyond, past 2^53, anything. */
export const hostileAddress: fc.Arbitrary<[number, number]> = fc.oneof(
  fc.integer({ min: 0, max: 0xffff }).map((a): [number, number] => [a, 0]),
  fc.integer({ min: 0x20000, max: 0x2ffff }).map((a): [number, number] => [a, 0]),
  fc.integer({ min: 0x10000, max: 0x1ffff }).map((a): [number, number] => [a, 0]),
  fc.constantFrom<[number, number]>([HOSTILE_TABLE_BASE, 0], [HOSTILE_RING_BASE, 0], [0xfff0, 0], [0x2fff0, 0], [0xffffffff, 0], [0, 1], [0, 0x200000], [0xffffffff, 0x1fffff], [0xffffffff, 0xffffffff]),
  fc.tuple(u32, u32),
);

/** A descriptor that points at (a part of) the indirect table: INDIRECT, maybe with other flags. */
const indirectPointer = (tableSize: number): fc.Arbitrary<RawDescriptor> =>
  fc
    .record({
      first: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 7 })),
      entries: fc.oneof(fc.constant(8), fc.integer({ min: 1, max: 8 }), fc.constant(0)),
      flags: fc.constantFrom(DescFlag.INDIRECT, DescFlag.INDIRECT | DescFlag.WRITE, DescFlag.INDIRECT | DescFlag.NEXT),
      next: fc.integer({ min: 0, max: Math.max(0, tableSize - 1) }),
    })
    .map(({ first, entries, flags, next }) => ({ addrLow: HOSTILE_TABLE_BASE + DESC_SIZE * first, addrHigh: 0, len: DESC_SIZE * entries, flags, next }));

const anyDescriptor = (tableSize: number): fc.Arbitrary<RawDescriptor> =>
  fc
    .record({
      addr: hostileAddress,
      len: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(16, 32, 128, 4096, 0x10000, 0x7fffffff, 0xffffffff), u32),
      // NEXT (1) is common so that chains and loops are; WRITE (2), INDIRECT (4) and the rest less so.
      flags: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 3, 0, 2, 4) }, { weight: 1, arbitrary: u16 }),
      next: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: Math.max(0, tableSize - 1) }) }, { weight: 1, arbitrary: u16 }),
    })
    .map(({ addr, len, flags, next }) => ({ addrLow: addr[0], addrHigh: addr[1], len, flags, next }));

/** A well-formed link: a small buffer in RAM, NEXT set, the next index inside the table. */
const link = (tableSize: number): fc.Arbitrary<RawDescriptor> =>
  fc
    .record({
      addrLow: fc.integer({ min: 0x8000, max: 0x8fff }),
      len: fc.integer({ min: 0, max: 64 }),
      flags: fc.constantFrom(DescFlag.NEXT, DescFlag.NEXT | DescFlag.WRITE),
      next: fc.integer({ min: 0, max: Math.max(0, tableSize - 1) }),
    })
    .map((d) => ({ ...d, addrHigh: 0 }));

/** Mostly anything; some well-formed links and pointers to the indirect table, so that long chains, loops and nesting happen in both tables. */
const descriptor = (tableSize: number): fc.Arbitrary<RawDescriptor> =>
  fc.oneof({ weight: 4, arbitrary: anyDescriptor(tableSize) }, { weight: 1, arbitrary: link(tableSize) }, { weight: 1, arbitrary: indirectPointer(tableSize) });

/** Hostile rings for a queue that allows up to `maxQueueSize` entries. */
export function hostileRing(maxQueueSize = 16): fc.Arbitrary<HostileRing> {
  const sizes = [1, 2, 4, 8, 16, 32].filter((s) => s <= maxQueueSize);
  return fc.constantFrom(...sizes).chain((queueSize) => {
    const area = layoutRing(0, queueSize).end;
    return fc.record({
      queueSize: fc.constant(queueSize),
      eventIdx: fc.boolean(),
      indirect: fc.boolean(),
      startIndex: fc.oneof(fc.constant(0), fc.integer({ min: 0x10000 - 2 * queueSize, max: 0xffff }), u16),
      descriptors: fc.array(descriptor(queueSize), { minLength: queueSize, maxLength: queueSize }),
      table: fc.array(descriptor(8), { minLength: 8, maxLength: 8 }),
      heads: fc.array(fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: queueSize - 1 }) }, { weight: 1, arbitrary: u16 }), { minLength: queueSize, maxLength: queueSize }),
      published: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: queueSize }) }, { weight: 1, arbitrary: u16 }),
      availFlags: fc.constantFrom(0, 1, 0xffff),
      usedEvent: u16,
      usedFlags: fc.constantFrom(0, 1, 0xffff),
      usedIdx: fc.oneof(fc.constant(0), u16),
      availEvent: u16,
      patches: fc.array(fc.record({ at: fc.integer({ min: 0, max: area - 1 }), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }), { maxLength: 3 }),
      script: registerScript(HOSTILE_RING_BASE),
    });
  });
}

function writeDescriptor(memory: GuestMemory, at: number, d: RawDescriptor): void {
  memory.writeU32(at, d.addrLow >>> 0);
  memory.writeU32(at + 4, d.addrHigh >>> 0);
  memory.writeU32(at + 8, d.len >>> 0);
  memory.writeU16(at + 12, d.flags & 0xffff);
  memory.writeU16(at + 14, d.next & 0xffff);
}

/** The ring the hostile driver sets up: at {@link HOSTILE_RING_BASE}, `queueSize` entries. */
export function hostileLayout(input: HostileRing): RingLayout & { readonly end: number } {
  return layoutRing(HOSTILE_RING_BASE, input.queueSize);
}

/**
 * Write the hostile bytes into guest memory as the guest would (not through a device): the
 * descriptor table, the indirect table, both rings with their event fields, then the patches.
 * `memory` must hold {@link HOSTILE_RAM}.
 */
export function placeHostileRing(memory: GuestMemory, input: HostileRing): void {
  const layout = hostileLayout(input);
  const q = input.queueSize;
  input.descriptors.forEach((d, i) => writeDescriptor(memory, layout.descTable + DESC_SIZE * i, d));
  input.table.forEach((d, i) => writeDescriptor(memory, HOSTILE_TABLE_BASE + DESC_SIZE * i, d));
  input.heads.forEach((h, i) => memory.writeU16(layout.availRing + 4 + 2 * i, h & 0xffff));
  memory.writeU16(layout.availRing, input.availFlags);
  memory.writeU16(layout.availRing + 4 + 2 * q, input.usedEvent);
  memory.writeU16(layout.usedRing, input.usedFlags);
  memory.writeU16(layout.usedRing + 2, input.usedIdx);
  memory.writeU16(layout.usedRing + 4 + 8 * q, input.availEvent);
  const area = layout.usedRing + ringSizes(q).used - layout.descTable;
  for (const p of input.patches) memory.write(layout.descTable + p.at, p.bytes.subarray(0, Math.max(0, area - p.at)));
  // avail.idx last: it publishes the entries (§2.7.13).
  memory.writeU16(layout.availRing + 2, (input.startIndex + input.published) & 0xffff);
}
