import { describe, expect, it } from 'vitest';
import { PackedDriverQueue, layoutPackedRing } from '../../src/guest/packed-driver-queue.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { WatchedMemory } from '../../src/testing/watched-memory.js';
import { DescFlag, PackedDescFlag, RingEventFlag } from '../../src/virtio/constants.js';
import { availBits, usedBits } from '../../src/virtio/packed-ring.js';

// The driver side of a packed ring as Linux's virtio_ring drives it, checked byte by byte: no
// device here, the tests write the device's side of the ring by hand.

const BASE = 0x1000;
const AREA = 0x4000;
const BUF = 0x8000;
const A = PackedDescFlag.AVAIL;
const U = PackedDescFlag.USED;

function setUp(size: number, options: { eventIdx?: boolean; indirect?: boolean } = {}) {
  const memory = new WatchedMemory(new FlatMemory(1 << 16));
  const layout = layoutPackedRing(BASE, size);
  memory.fill(BASE, 16 * size + 8, 0xff);
  const q = new PackedDriverQueue<string>(memory, layout, { eventIdx: options.eventIdx ?? false, ...(options.indirect ? { indirect: { area: AREA, maxSegments: 4 } } : {}) });
  const desc = (slot: number) => {
    const at = layout.descRing + 16 * slot;
    return { addr: memory.readU32(at), len: memory.readU32(at + 8), id: memory.readU16(at + 12), flags: memory.readU16(at + 14) };
  };
  /** The device returns buffer `id` at `slot` of the lap with wrap counter `wrap`. */
  const use = (slot: number, id: number, len: number, wrap: number): void => {
    const at = layout.descRing + 16 * slot;
    memory.writeU16(at + 12, id);
    memory.writeU32(at + 8, len);
    memory.writeU16(at + 14, usedBits(wrap));
  };
  return { memory, layout, q, desc, use };
}

const seg = (gpa: number, length: number) => ({ gpa, length });

describe('a packed ring, driver side', () => {
  it('lays out the descriptor ring, then the driver and the device event structures, and zeroes them', () => {
    expect(layoutPackedRing(0x2000, 3)).toEqual({ size: 3, descRing: 0x2000, driverEvent: 0x2030, deviceEvent: 0x2034, end: 0x2038 });
    const { memory } = setUp(3);
    expect([...memory.read(BASE, 16 * 3 + 8)].every((b) => b === 0)).toBe(true);
  });

  it('makes a list available in consecutive slots: the id in every descriptor, NEXT on all but the last, readable ones first', () => {
    const { q, desc } = setUp(4);
    expect(q.add([seg(BUF, 4)], [seg(BUF + 0x10, 8), seg(BUF + 0x20, 2)], 'a')).toBe(true);
    expect([0, 1, 2].map(desc)).toEqual([
      { addr: BUF, len: 4, id: 0, flags: A | DescFlag.NEXT },
      { addr: BUF + 0x10, len: 8, id: 0, flags: A | DescFlag.NEXT | DescFlag.WRITE },
      { addr: BUF + 0x20, len: 2, id: 0, flags: A | DescFlag.WRITE },
    ]);
    expect([q.freeDescriptors, q.outstanding]).toEqual([1, 1]);
  });

  it('writes the first descriptor’s flags last, after everything else of the buffer', () => {
    const { q, memory } = setUp(4);
    const writes: Array<[number, number]> = [];
    memory.onWrite = (gpa, length) => writes.push([gpa - BASE, length]);
    q.add([seg(BUF, 4), seg(BUF + 0x10, 4)], [], 'a');
    expect(writes.at(-1)).toEqual([14, 2]);
    expect(writes.filter(([at]) => at < 16)).toEqual([
      [0, 14],
      [14, 2],
    ]);
  });

  it('marks a list that crosses the end of the ring with the next lap’s bits there, and flips its wrap counter', () => {
    const { q, desc, use } = setUp(3);
    q.add([seg(BUF, 1)], [], 'a');
    q.add([seg(BUF, 1)], [], 'b');
    use(0, 0, 0, 1);
    use(1, 1, 0, 1);
    q.drainUsed();
    q.add([seg(BUF, 1), seg(BUF + 1, 1)], [], 'c');
    expect(desc(2).flags).toBe(A | DescFlag.NEXT);
    expect(desc(0).flags).toBe(U);
    q.add([seg(BUF, 1)], [], 'd');
    expect(desc(1).flags).toBe(U);
  });

  it('puts a buffer of several segments in an indirect table at area + id · maxSegments · 16, one slot in the ring', () => {
    const { q, desc, memory } = setUp(4, { indirect: true });
    q.add([seg(BUF, 1)], [], 'single');
    q.add([seg(BUF, 4)], [seg(BUF + 0x10, 8)], 'table');
    expect(desc(0)).toEqual({ addr: BUF, len: 1, id: 0, flags: A });
    const table = AREA + 1 * 4 * 16;
    expect(desc(1)).toEqual({ addr: table, len: 32, id: 1, flags: A | DescFlag.INDIRECT });
    expect([memory.readU32(table), memory.readU32(table + 8), memory.readU16(table + 12), memory.readU16(table + 14)]).toEqual([BUF, 4, 0, 0]);
    expect([memory.readU32(table + 16), memory.readU16(table + 30)]).toEqual([BUF + 0x10, DescFlag.WRITE]);
    expect(q.freeDescriptors).toBe(2);
    // Past maxSegments a buffer goes direct.
    expect(q.add([seg(BUF, 1), seg(BUF, 1), seg(BUF, 1), seg(BUF, 1), seg(BUF, 1)], [], 'long')).toBe(false);
  });

  it('refuses a buffer it has no descriptors for, an empty one, and an address no u64 holds', () => {
    const { q } = setUp(2);
    expect(q.add([seg(BUF, 1), seg(BUF, 1), seg(BUF, 1)], [], 'x')).toBe(false);
    expect([q.freeDescriptors, q.outstanding]).toEqual([2, 0]);
    expect(() => q.add([], [], 'x')).toThrowError(new RangeError('a buffer needs at least one segment'));
    expect(() => q.add([seg(2 ** 53, 1)], [], 'x')).toThrowError(/exact unsigned 64-bit/);
  });

  it('writes an address above 4 GiB as a little-endian u64', () => {
    const { q, memory, layout } = setUp(2);
    q.add([seg(0x12_3456_7000, 1)], [], 'high');
    expect([...memory.read(layout.descRing, 8)]).toEqual([0x00, 0x70, 0x56, 0x34, 0x12, 0, 0, 0]);
  });

  it('finds used buffers at its position, skips the slots of each id, and hands ids back as Linux does', () => {
    const { q, use } = setUp(4);
    q.add([seg(BUF, 1), seg(BUF, 1)], [], 'two'); // ids 0 and 1, slots 0-1
    q.add([seg(BUF, 1)], [], 'one'); // id 2, slot 2
    expect(q.getUsed()).toBeUndefined();
    use(0, 2, 5, 1); // the device returns the later buffer first, at slot 0
    expect(q.getUsed()).toEqual({ token: 'one', len: 5 });
    expect(q.getUsed()).toBeUndefined(); // the next is due at slot 1
    use(1, 0, 0, 1);
    expect(q.getUsed()).toEqual({ token: 'two', len: 0 });
    expect(q.freeDescriptors).toBe(4);
    // The ids freed last come first (the free list is a stack of lists): id 0, then 1, then 2.
    q.add([seg(BUF, 1)], [], 'a');
    q.add([seg(BUF, 1)], [], 'b');
    q.add([seg(BUF, 1)], [], 'c');
    use(3, 1, 0, 1);
    expect(q.getUsed()?.token).toBe('b');
  });

  it('refuses a used id that is not in flight', () => {
    const { q, use } = setUp(4);
    q.add([seg(BUF, 1)], [], 'a');
    use(0, 3, 0, 1);
    expect(() => q.getUsed()).toThrowError('device returned buffer id 3, which is not in flight');
    use(0, 4, 0, 1);
    expect(() => q.getUsed()).toThrowError('device returned buffer id 4, which is not in flight');
  });

  it('kicks as the device event structure asks: never when disabled, for anything new when enabled, for the named slot with DESC', () => {
    const { q, memory, layout } = setUp(4);
    const device = (flags: number, off = 0): void => {
      memory.writeU16(layout.deviceEvent, off);
      memory.writeU16(layout.deviceEvent + 2, flags);
    };
    expect(q.kickNeeded()).toBe(false); // nothing added
    q.add([seg(BUF, 1)], [], 'a');
    device(RingEventFlag.DISABLE);
    expect(q.kickNeeded()).toBe(false);
    q.add([seg(BUF, 1)], [], 'b');
    device(3);
    expect(q.kickNeeded()).toBe(true);
    // Slots 2 and 3 go in; the device named slot 3 of lap 1, then slot 0 of lap 0 (not reached).
    q.add([seg(BUF, 1), seg(BUF, 1)], [], 'c');
    device(RingEventFlag.DESC, 0x8003);
    expect(q.kickNeeded()).toBe(true);
    expect(q.kickNeeded()).toBe(false);
  });

  it('turns interrupts off and on as Linux does: flags only when they change, the event at the next used slot', () => {
    const { q, memory, layout, use } = setUp(4, { eventIdx: true });
    const driver = (): [number, number] => [memory.readU16(layout.driverEvent), memory.readU16(layout.driverEvent + 2)];
    expect(driver()).toEqual([0, RingEventFlag.ENABLE]);
    q.setInterrupts(false);
    expect(driver()).toEqual([0, RingEventFlag.DISABLE]);
    // Already off: the driver keeps a shadow of its flags and does not write them again.
    memory.writeU16(layout.driverEvent + 2, RingEventFlag.ENABLE);
    q.setInterrupts(false);
    expect(driver()).toEqual([0, RingEventFlag.ENABLE]);
    memory.writeU16(layout.driverEvent + 2, RingEventFlag.DISABLE);
    q.add([seg(BUF, 1)], [], 'a');
    use(0, 0, 0, 1);
    q.getUsed();
    // Off: collecting does not re-arm the event.
    expect(driver()).toEqual([0, RingEventFlag.DISABLE]);
    q.setInterrupts(true);
    expect(driver()).toEqual([0x8001, RingEventFlag.DESC]);
    q.add([seg(BUF, 1)], [], 'b');
    use(1, 0, 0, 1);
    q.getUsed();
    // DESC: each collected buffer moves the event to the next used slot.
    expect(driver()).toEqual([0x8002, RingEventFlag.DESC]);
    const writes: number[] = [];
    memory.onWrite = (gpa) => writes.push(gpa);
    q.setInterrupts(true);
    expect(writes).toEqual([layout.driverEvent]); // the flags are already DESC
  });

  it('without EVENT_IDX turns interrupts on with ENABLE and writes no event', () => {
    const { q, memory, layout } = setUp(4);
    q.setInterrupts(false);
    memory.writeU16(layout.driverEvent, 0x1234);
    q.setInterrupts(true);
    expect([memory.readU16(layout.driverEvent), memory.readU16(layout.driverEvent + 2)]).toEqual([0x1234, RingEventFlag.ENABLE]);
    q.setInterrupts(false);
    expect(q.setInterruptsDelayed()).toBe(true);
    expect([memory.readU16(layout.driverEvent), memory.readU16(layout.driverEvent + 2)]).toEqual([0x1234, RingEventFlag.ENABLE]);
  });

  it('with no options: no EVENT_IDX and no indirect tables', () => {
    const memory = new FlatMemory(1 << 16);
    const layout = layoutPackedRing(BASE, 4);
    const q = new PackedDriverQueue<string>(memory, layout);
    q.setInterrupts(false);
    q.setInterrupts(true);
    expect([memory.readU16(layout.driverEvent), memory.readU16(layout.driverEvent + 2)]).toEqual([0, RingEventFlag.ENABLE]);
    expect(q.add([seg(BUF, 1)], [seg(BUF + 1, 1)], 'two')).toBe(true);
    expect(q.freeDescriptors).toBe(2);
  });

  it('delays interrupts to exactly the end of the ring: slot 0 of the next lap', () => {
    const { q, memory, layout, use } = setUp(4, { eventIdx: true });
    q.add([seg(BUF, 1)], [], 'a');
    use(0, 0, 0, 1);
    q.getUsed();
    for (const t of ['b', 'c', 'd', 'e']) q.add([seg(BUF, 1)], [], t);
    // Last used at slot 1 of lap 1, four in flight: three more, slot 4, which is slot 0 of lap 0.
    expect(q.setInterruptsDelayed()).toBe(true);
    expect(memory.readU16(layout.driverEvent)).toBe(0);
  });

  it('delays interrupts to three quarters of what is in flight, across the end of the ring, and says when one is waiting', () => {
    const { q, memory, layout, use } = setUp(4, { eventIdx: true });
    q.setInterrupts(false);
    for (const t of ['a', 'b', 'c']) q.add([seg(BUF, 1)], [], t);
    use(0, 0, 0, 1);
    q.getUsed();
    q.add([seg(BUF, 1)], [], 'd');
    // Last used at slot 1 of lap 1, three in flight: two more, slot 3.
    expect(q.setInterruptsDelayed()).toBe(true);
    expect([memory.readU16(layout.driverEvent), memory.readU16(layout.driverEvent + 2)]).toEqual([0x8003, RingEventFlag.DESC]);
    use(1, 1, 0, 1);
    use(2, 2, 0, 1);
    q.getUsed();
    q.getUsed();
    q.add([seg(BUF, 1)], [], 'e');
    q.add([seg(BUF, 1)], [], 'f');
    // At slot 3 with three in flight again: two more, slot 1 of the next lap.
    expect(q.setInterruptsDelayed()).toBe(true);
    expect(memory.readU16(layout.driverEvent)).toBe(1);
    use(3, 0, 0, 1);
    expect(q.setInterruptsDelayed()).toBe(false);
  });

  it('takes back every buffer still with the device, and frees their descriptors', () => {
    const { q } = setUp(4);
    q.add([seg(BUF, 1), seg(BUF, 1)], [], 'a');
    q.add([seg(BUF, 1)], [], 'b');
    expect(q.takeOutstanding()).toEqual([
      [0, 'a'],
      [2, 'b'],
    ]);
    expect([q.freeDescriptors, q.outstanding]).toEqual([4, 0]);
    expect(availBits(1)).toBe(A);
  });
});
