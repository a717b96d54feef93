import { describe, expect, it } from 'vitest';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { WatchedMemory } from '../../src/testing/watched-memory.js';
import { DescFlag, PackedDescFlag, RingEventFlag } from '../../src/virtio/constants.js';
import type { ChainLimits } from '../../src/virtio/descriptor-chain.js';
import { PackedQueue } from '../../src/virtio/packed-queue.js';
import { availBits, usedBits } from '../../src/virtio/packed-ring.js';

// The device side of a packed ring, rule by rule (virtio 1.2 §2.8), with descriptors written by
// hand: what it reads, what it refuses and why, what it writes back.

const RING = 0x1000;
const DRIVER = 0x2000;
const DEVICE = 0x2004;
const TABLE = 0x3000;
const BUF = 0x8000;

interface Desc {
  addr?: number;
  len?: number;
  id?: number;
  /** Flags besides AVAIL/USED. */
  flags?: number;
  /** The lap whose AVAIL/USED bits it carries (default: available in wrap 1). */
  wrap?: number;
  /** Raw AVAIL/USED bits instead. */
  bits?: number;
}

function writeDesc(m: FlatMemory | WatchedMemory, at: number, d: Desc): void {
  m.writeU32(at, (d.addr ?? BUF) % 0x1_0000_0000);
  m.writeU32(at + 4, Math.floor((d.addr ?? BUF) / 0x1_0000_0000));
  m.writeU32(at + 8, d.len ?? 8);
  m.writeU16(at + 12, d.id ?? 0);
  m.writeU16(at + 14, (d.flags ?? 0) | (d.bits ?? availBits(d.wrap ?? 1)));
}

function setUp(size = 4, options: { eventIdx?: boolean; indirect?: boolean; maxSize?: number; memory?: FlatMemory | WatchedMemory } = {}) {
  const memory = options.memory ?? new FlatMemory(1 << 16);
  const q = new PackedQueue(memory, options.maxSize ?? 8);
  q.size = size;
  q.descRing = RING;
  q.driverEvent = DRIVER;
  q.deviceEvent = DEVICE;
  q.ready = true;
  q.activate({ eventIdx: options.eventIdx ?? false, indirect: options.indirect ?? false });
  const at = (slot: number): number => RING + 16 * slot;
  return { memory, q, at, put: (slot: number, d: Desc) => writeDesc(memory, at(slot), d) };
}

const popError = (q: PackedQueue, limits?: ChainLimits): { kind: string; message: string } | undefined => {
  try {
    q.pop(limits);
    return undefined;
  } catch (error) {
    return { kind: (error as { kind: string }).kind, message: (error as Error).message };
  }
};

describe('a packed queue: construction and activation', () => {
  it('takes a QueueNumMax of 1 to 2^15, not only powers of two', () => {
    const m = new FlatMemory(1 << 16);
    for (const max of [1, 3, 1000, 32768]) expect(new PackedQueue(m, max).maxSize).toBe(max);
    for (const max of [0, 32769, 1.5, -1]) expect(() => new PackedQueue(m, max)).toThrowError(new RangeError(`queue size ${max} is not 1 to 32768`));
  });

  it('accepts any size from 1 to QueueNumMax and refuses the rest', () => {
    for (const size of [1, 3, 5, 7, 8]) expect(() => setUp(size)).not.toThrow();
    for (const size of [0, 9, 2.5, 0xffffffff]) expect(() => setUp(size)).toThrowError(expect.objectContaining({ kind: 'bad-queue-size', message: `queue size ${size} is not 1 to 8` }) as Error);
  });

  it('checks each area: 16-byte aligned ring, 4-byte aligned event structures, all in RAM', () => {
    const m = new FlatMemory(1 << 16);
    const q = new PackedQueue(m, 8);
    const activate = (): void => q.activate({ eventIdx: false, indirect: false });
    Object.assign(q, { descRing: RING + 8, driverEvent: DRIVER, deviceEvent: DEVICE });
    expect(activate).toThrowError(expect.objectContaining({ kind: 'ring-misaligned', message: 'descriptor ring at 0x1008 is not 16-byte aligned' }) as Error);
    Object.assign(q, { descRing: RING, driverEvent: DRIVER + 2 });
    expect(activate).toThrowError(expect.objectContaining({ kind: 'ring-misaligned', message: 'driver event suppression at 0x2002 is not 4-byte aligned' }) as Error);
    Object.assign(q, { driverEvent: DRIVER, deviceEvent: DEVICE + 1 });
    expect(activate).toThrowError(expect.objectContaining({ kind: 'ring-misaligned', message: 'device event suppression at 0x2005 is not 4-byte aligned' }) as Error);
    Object.assign(q, { deviceEvent: 0x10000 });
    expect(activate).toThrowError(expect.objectContaining({ kind: 'ring-out-of-range', message: 'device event suppression 0x10000+4 is not in guest RAM' }) as Error);
    Object.assign(q, { deviceEvent: DEVICE, driverEvent: 0x10000 });
    expect(activate).toThrowError(expect.objectContaining({ kind: 'ring-out-of-range', message: 'driver event suppression 0x10000+4 is not in guest RAM' }) as Error);
    // The ring's last slot just fits; one slot later does not.
    Object.assign(q, { driverEvent: DRIVER, descRing: 0x10000 - 16 * 8 });
    expect(activate).not.toThrow();
    Object.assign(q, { descRing: 0x10000 - 16 * 7 });
    expect(activate).toThrowError(expect.objectContaining({ kind: 'ring-out-of-range', message: 'descriptor ring 0xff90+128 is not in guest RAM' }) as Error);
  });

  it('names its areas for the transports by the split ring registers', () => {
    const q = new PackedQueue(new FlatMemory(1 << 16), 8);
    q.descTable = 0x100;
    q.availRing = 0x200;
    q.usedRing = 0x300;
    expect([q.descRing, q.driverEvent, q.deviceEvent]).toEqual([0x100, 0x200, 0x300]);
    expect([q.descTable, q.availRing, q.usedRing]).toEqual([0x100, 0x200, 0x300]);
  });

  it('asks for kicks when it goes live: every one, or with EVENT_IDX the first slot of the first lap', () => {
    const plain = setUp(4);
    expect([plain.memory.readU16(DEVICE), plain.memory.readU16(DEVICE + 2)]).toEqual([0, RingEventFlag.ENABLE]);
    const event = setUp(4, { eventIdx: true });
    expect([event.memory.readU16(DEVICE), event.memory.readU16(DEVICE + 2)]).toEqual([0x8000, RingEventFlag.DESC]);
  });

  it('resets to its maximum size, no areas, a fresh ring', () => {
    const { q, put } = setUp(3);
    put(0, { id: 1 });
    q.pop();
    q.reset();
    expect(q.save()).toEqual({ layout: 'packed', size: 8, ready: false, descRing: 0, driverEvent: 0, deviceEvent: 0, nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1, inFlight: [] });
  });
});

describe('a packed queue: reading buffers', () => {
  it('sees a buffer only when its first descriptor is available in the current lap', () => {
    const { q, put } = setUp(4);
    expect(q.pending()).toBe(0); // zeroed: neither bit
    for (const bits of [usedBits(1), usedBits(0), availBits(0)]) {
      put(0, { bits });
      expect(q.pending()).toBe(0);
    }
    put(0, { wrap: 1 });
    expect(q.pending()).toBe(1);
  });

  it('reads a single descriptor: its buffer, its direction, its id', () => {
    const { q, put } = setUp(4);
    put(0, { addr: BUF, len: 12, id: 3, flags: DescFlag.WRITE });
    expect(q.pop()).toEqual({ head: 3, readable: [], writable: [{ gpa: BUF, length: 12 }], readableLength: 0, writableLength: 12 });
    expect(q.save()).toMatchObject({ nextAvail: 1, availWrap: 1, inFlight: [[3, 1]] });
    expect(q.pop()).toBeUndefined();
  });

  it('follows NEXT into the following slots, across the end of the ring into the next lap, and takes the id of the last', () => {
    const { q, put } = setUp(3);
    // Start at slot 2 of lap 1: the device is there after one buffer of two slots.
    put(0, { id: 0, flags: DescFlag.NEXT });
    put(1, { id: 0 });
    q.pop();
    q.push(0, 0);
    put(2, { addr: BUF, len: 4, id: 7, flags: DescFlag.NEXT });
    put(0, { addr: BUF + 0x100, len: 8, id: 1, flags: DescFlag.NEXT | DescFlag.WRITE, wrap: 0 });
    put(1, { addr: BUF + 0x200, len: 2, id: 2, flags: DescFlag.WRITE, wrap: 0 });
    expect(q.pop()).toEqual({
      head: 2,
      readable: [{ gpa: BUF, length: 4 }],
      writable: [
        { gpa: BUF + 0x100, length: 8 },
        { gpa: BUF + 0x200, length: 2 },
      ],
      readableLength: 4,
      writableLength: 10,
    });
    expect(q.save()).toMatchObject({ nextAvail: 2, availWrap: 0, inFlight: [[2, 3]] });
  });

  it('refuses a list whose later descriptor is not available in its own lap', () => {
    const { q, put } = setUp(3);
    put(0, { flags: DescFlag.NEXT });
    put(1, { wrap: 0 });
    expect(popError(q)).toEqual({ kind: 'descriptor-not-available', message: 'descriptor 1 continues the buffer at ring slot 0 but is not marked available' });
  });

  it('never reads a slot the driver does not own: a list longer than the free slots overruns', () => {
    const { q, put } = setUp(2);
    put(0, { flags: DescFlag.NEXT });
    put(1, { flags: DescFlag.NEXT });
    // Its third descriptor would be slot 0 again.
    expect(popError(q)).toEqual({ kind: 'ring-overrun', message: 'buffer at ring slot 0 runs past the 2 descriptors the driver owns' });
  });

  it('counts the slots in flight: with one held, a list of the whole ring overruns, and so does a buffer when all are held', () => {
    const { q, put } = setUp(3);
    put(0, { id: 0 });
    q.pop();
    put(1, { id: 1, flags: DescFlag.NEXT });
    put(2, { id: 1, flags: DescFlag.NEXT });
    put(0, { id: 1, wrap: 0 });
    expect(popError(q)?.kind).toBe('ring-overrun');
    const full = setUp(2);
    full.put(0, { id: 0 });
    full.put(1, { id: 1 });
    full.q.pop();
    full.q.pop();
    full.put(0, { id: 0, wrap: 0 }); // the driver rewrote a slot the device holds
    expect(() => full.q.pending()).toThrowError(expect.objectContaining({ kind: 'ring-overrun', message: 'the driver made a descriptor available at ring slot 0 while all 2 are in flight' }) as Error);
  });

  it('takes a list that fills exactly the free slots', () => {
    const { q, put } = setUp(3);
    put(0, { flags: DescFlag.NEXT });
    put(1, { flags: DescFlag.NEXT });
    put(2, { id: 2 });
    expect(q.pop()?.head).toBe(2);
    expect(q.save()).toMatchObject({ nextAvail: 0, availWrap: 0, inFlight: [[2, 3]] });
  });

  it("keeps the queue's limits: at most maxSegments buffers (reading no more), at most maxBytes", () => {
    const memory = new WatchedMemory(new FlatMemory(1 << 16));
    const { q, put } = setUp(8, { memory });
    for (let i = 0; i < 4; i++) put(i, { flags: DescFlag.NEXT });
    const before = memory.accesses;
    expect(popError(q, { maxSegments: 2, maxBytes: 1 << 20, cost: 3 })).toEqual({ kind: 'chain-too-long', message: "chain from head 0 has more than 2 buffers, this queue's limit" });
    // The available check, then two descriptors of five fields each.
    expect(memory.accesses - before).toBe(1 + 2 * 5);
    const big = setUp(8);
    big.put(0, { len: 100, flags: DescFlag.NEXT });
    big.put(1, { len: 101 });
    expect(popError(big.q, { maxSegments: 8, maxBytes: 200, cost: 9 })).toEqual({ kind: 'chain-too-large', message: "chain from head 0 holds more than 200 bytes, this queue's limit" });
    big.put(1, { len: 100 });
    expect(big.q.pop({ maxSegments: 2, maxBytes: 200, cost: 3 })?.readableLength).toBe(200);
  });

  it('refuses buffers outside RAM and readable buffers after writable ones', () => {
    const { q, put } = setUp(4);
    put(0, { addr: 0xfff8, len: 9 });
    expect(popError(q)).toEqual({ kind: 'buffer-out-of-range', message: 'descriptor 0 buffer 0xfff8+9 is not in guest RAM' });
    const order = setUp(4);
    order.put(0, { flags: DescFlag.NEXT | DescFlag.WRITE });
    order.put(1, {});
    expect(popError(order.q)).toEqual({ kind: 'readable-after-writable', message: 'descriptor 1 is device-readable but follows a device-writable one' });
  });

  it('takes an id inside the ring that is not in flight, and refuses the others', () => {
    const { q, put } = setUp(4);
    put(0, { id: 4 });
    expect(popError(q)).toEqual({ kind: 'buffer-id-out-of-range', message: 'buffer id 4 is outside a queue of 4' });
    const twice = setUp(4);
    twice.put(0, { id: 3 });
    twice.put(1, { id: 3 });
    expect(twice.q.pop()?.head).toBe(3);
    expect(popError(twice.q)).toEqual({ kind: 'buffer-id-in-use', message: 'buffer id 3 is already in flight' });
    // Refused buffers leave the device where it was.
    expect(twice.q.save()).toMatchObject({ nextAvail: 1, inFlight: [[3, 1]] });
  });

  it('with EVENT_IDX asks for a kick at the slot after each buffer it takes', () => {
    const { q, put, memory } = setUp(2, { eventIdx: true });
    put(0, { id: 0, flags: DescFlag.NEXT });
    put(1, { id: 0 });
    q.pop();
    expect(memory.readU16(DEVICE)).toBe(0); // slot 0 of lap 0
    const plain = setUp(2);
    plain.put(0, { id: 0 });
    plain.memory.writeU16(DEVICE, 0x1234);
    plain.q.pop();
    expect(plain.memory.readU16(DEVICE)).toBe(0x1234);
  });
});

describe('a packed queue: indirect tables', () => {
  const table = (m: FlatMemory | WatchedMemory, entries: Desc[]): void => entries.forEach((d, i) => writeDesc(m, TABLE + 16 * i, { bits: 0, ...d }));

  it('reads the table in order, one ring slot for the buffer, WRITE the only flag that counts', () => {
    const { q, put, memory } = setUp(4, { indirect: true });
    table(memory, [
      { addr: BUF, len: 4, flags: DescFlag.NEXT | DescFlag.INDIRECT },
      { addr: BUF + 0x10, len: 6, flags: DescFlag.WRITE | 0x7f78 },
      { addr: BUF + 0x20, len: 2, flags: DescFlag.WRITE },
    ]);
    put(0, { addr: TABLE, len: 48, id: 2, flags: DescFlag.INDIRECT | DescFlag.WRITE });
    expect(q.pop()).toEqual({
      head: 2,
      readable: [{ gpa: BUF, length: 4 }],
      writable: [
        { gpa: BUF + 0x10, length: 6 },
        { gpa: BUF + 0x20, length: 2 },
      ],
      readableLength: 4,
      writableLength: 8,
    });
    expect(q.save()).toMatchObject({ nextAvail: 1, inFlight: [[2, 1]] });
  });

  it('refuses it without the feature, with NEXT, inside a list, of a bad length, or outside RAM', () => {
    const off = setUp(4);
    off.put(0, { addr: TABLE, len: 16, flags: DescFlag.INDIRECT });
    expect(popError(off.q)).toEqual({ kind: 'indirect-not-negotiated', message: 'descriptor 0 is INDIRECT without VIRTIO_F_INDIRECT_DESC' });
    const next = setUp(4, { indirect: true });
    next.put(0, { addr: TABLE, len: 16, flags: DescFlag.INDIRECT | DescFlag.NEXT });
    expect(popError(next.q)).toEqual({ kind: 'indirect-with-next', message: 'descriptor 0 is INDIRECT inside a list linked by NEXT' });
    const inside = setUp(4, { indirect: true });
    inside.put(0, { flags: DescFlag.NEXT });
    inside.put(1, { addr: TABLE, len: 16, flags: DescFlag.INDIRECT });
    expect(popError(inside.q)).toEqual({ kind: 'indirect-with-next', message: 'descriptor 1 is INDIRECT inside a list linked by NEXT' });
    for (const len of [0, 8, 24, 16 * 32769]) {
      const bad = setUp(4, { indirect: true });
      bad.put(0, { addr: TABLE, len, flags: DescFlag.INDIRECT });
      expect(popError(bad.q)?.kind).toBe('bad-indirect-length');
    }
    const out = setUp(4, { indirect: true });
    out.put(0, { addr: 0xfff0, len: 32, flags: DescFlag.INDIRECT });
    expect(popError(out.q)).toEqual({ kind: 'buffer-out-of-range', message: 'indirect table 0xfff0+32 is not in guest RAM' });
  });

  it('keeps the limits inside a table: no more entries read than maxSegments', () => {
    const memory = new WatchedMemory(new FlatMemory(1 << 16));
    const { q, put } = setUp(4, { indirect: true, memory });
    table(memory, [{}, {}, {}, {}]);
    put(0, { addr: TABLE, len: 64, flags: DescFlag.INDIRECT });
    const before = memory.accesses;
    expect(popError(q, { maxSegments: 3, maxBytes: 1 << 20, cost: 4 })).toEqual({ kind: 'chain-too-long', message: "chain from head 0 has more than 3 buffers, this queue's limit" });
    // The available check, the ring descriptor, then three table entries of four fields.
    expect(memory.accesses - before).toBe(1 + 5 + 3 * 4);
    expect(q.pop({ maxSegments: 4, maxBytes: 1 << 20, cost: 5 })?.readable).toHaveLength(4);
  });
});

describe('a packed queue: returning buffers', () => {
  it('writes the used descriptor where the device is: id, length, WRITE when it wrote, the used bits of its lap', () => {
    const { q, put, memory, at } = setUp(2);
    put(0, { id: 1, flags: DescFlag.WRITE });
    put(1, { id: 0 });
    q.pop();
    q.pop();
    q.push(1, 5);
    expect([memory.readU16(at(0) + 12), memory.readU32(at(0) + 8), memory.readU16(at(0) + 14)]).toEqual([1, 5, DescFlag.WRITE | PackedDescFlag.AVAIL | PackedDescFlag.USED]);
    q.push(0, 0);
    expect([memory.readU16(at(1) + 12), memory.readU32(at(1) + 8), memory.readU16(at(1) + 14)]).toEqual([0, 0, PackedDescFlag.AVAIL | PackedDescFlag.USED]);
    // A lap later the used bits are clear.
    put(0, { id: 0, wrap: 0 });
    q.pop();
    q.push(0, 3);
    expect(memory.readU16(at(0) + 14)).toBe(DescFlag.WRITE);
    expect(q.save()).toMatchObject({ nextUsed: 1, usedWrap: 0, inFlight: [] });
  });

  it('returns buffers in any order and skips the slots of each list it returns', () => {
    const { q, put, memory, at } = setUp(5);
    put(0, { id: 4, flags: DescFlag.NEXT });
    put(1, { id: 4 });
    put(2, { id: 2, flags: DescFlag.NEXT });
    put(3, { id: 2, flags: DescFlag.NEXT });
    put(4, { id: 2 });
    q.pop();
    q.pop();
    q.push(2, 0); // the later buffer first, written over slot 0
    expect(memory.readU16(at(0) + 12)).toBe(2);
    expect(q.save()).toMatchObject({ nextUsed: 3, usedWrap: 1, inFlight: [[4, 2]] });
    q.push(4, 0);
    expect(memory.readU16(at(3) + 12)).toBe(4);
    expect(q.save()).toMatchObject({ nextUsed: 0, usedWrap: 0, inFlight: [] });
  });

  it('refuses to return a buffer it does not hold (a fault of the device type, not of the guest)', () => {
    const { q } = setUp(4);
    expect(() => q.push(0, 0)).toThrowError(expect.objectContaining({ kind: 'internal', message: 'buffer id 0 is not in flight' }) as Error);
    expect(() => q.push(9, 0)).toThrowError(expect.objectContaining({ kind: 'internal' }) as Error);
  });
});

describe('a packed queue: notifications', () => {
  /** Pop and push `n` single-slot buffers. */
  const use = (s: ReturnType<typeof setUp>, n: number): void => {
    for (let i = 0; i < n; i++) {
      const { nextAvail, availWrap } = s.q.save();
      s.put(nextAvail, { id: 0, wrap: availWrap });
      s.q.pop();
      s.q.push(0, 0);
    }
  };

  it('interrupts per the driver flags: never when disabled, always when enabled or reserved, only after something was used', () => {
    const s = setUp(4);
    expect(s.q.takeInterrupt()).toBe(false);
    for (const [flags, want] of [
      [RingEventFlag.ENABLE, true],
      [RingEventFlag.DISABLE, false],
      [3, true],
      // Reserved bits above the two-bit field are ignored.
      [0x0101, false],
      [0xfffc, true],
      // A descriptor event without EVENT_IDX counts as enabled.
      [RingEventFlag.DESC, true],
    ] as const) {
      s.memory.writeU16(DRIVER + 2, flags);
      use(s, 1);
      expect(s.q.takeInterrupt()).toBe(want);
      expect(s.q.takeInterrupt()).toBe(false);
    }
  });

  it('with EVENT_IDX interrupts when the descriptor the driver names was among those just used, in this lap or the last', () => {
    const s = setUp(4, { eventIdx: true });
    s.memory.writeU16(DRIVER + 2, RingEventFlag.DESC);
    const event = (slot: number, wrap: number): void => s.memory.writeU16(DRIVER, slot | (wrap << 15));
    event(1, 1);
    use(s, 1); // used slot 0
    expect(s.q.takeInterrupt()).toBe(false);
    use(s, 1); // slot 1
    expect(s.q.takeInterrupt()).toBe(true);
    // Slots 2 and 3, then 0 of the next lap: the event at slot 3 of lap 1 is passed.
    event(3, 1);
    use(s, 3);
    expect(s.q.takeInterrupt()).toBe(true);
    // An event ahead, in the next lap: not yet.
    event(2, 0);
    use(s, 1); // slot 1 of lap 0
    expect(s.q.takeInterrupt()).toBe(false);
    use(s, 1); // slot 2
    expect(s.q.takeInterrupt()).toBe(true);
    // The window starts where the last decision was: an event before it does not count again.
    event(2, 0);
    use(s, 1);
    expect(s.q.takeInterrupt()).toBe(false);
  });

  it('asks for kicks or not: flags, and with EVENT_IDX the next slot it will read', () => {
    const s = setUp(4);
    s.q.setKicks(false);
    expect(s.memory.readU16(DEVICE + 2)).toBe(RingEventFlag.DISABLE);
    s.q.setKicks(true);
    expect(s.memory.readU16(DEVICE + 2)).toBe(RingEventFlag.ENABLE);
    const e = setUp(4, { eventIdx: true });
    use(e, 5);
    e.q.setKicks(false);
    expect([e.memory.readU16(DEVICE), e.memory.readU16(DEVICE + 2)]).toEqual([1, RingEventFlag.DISABLE]);
    e.memory.writeU16(DEVICE, 0);
    e.q.setKicks(true);
    expect([e.memory.readU16(DEVICE), e.memory.readU16(DEVICE + 2)]).toEqual([1, RingEventFlag.DESC]);
  });
});

describe('a packed queue: saved state', () => {
  it('saves positions, wrap counters and what is in flight, and resumes there', () => {
    const s = setUp(3);
    s.put(0, { id: 2, flags: DescFlag.NEXT });
    s.put(1, { id: 2 });
    s.put(2, { id: 0 });
    s.q.pop();
    s.q.pop();
    s.q.push(0, 0);
    const saved = s.q.save();
    expect(saved).toEqual({ layout: 'packed', size: 3, ready: true, descRing: RING, driverEvent: DRIVER, deviceEvent: DEVICE, nextAvail: 0, availWrap: 0, nextUsed: 1, usedWrap: 1, inFlight: [[2, 2]] });
    const copy = new PackedQueue(s.memory, 8);
    copy.restore(saved);
    expect(copy.save()).toEqual(saved);
    // It holds buffer 2 and can give it back; it knows the slots in flight.
    copy.activate({ eventIdx: false, indirect: false });
    copy.push(2, 0);
    expect(copy.save()).toMatchObject({ nextUsed: 0, usedWrap: 0, inFlight: [] });
  });

  it('resumes knowing which slots the driver does not own: a list over the held slots overruns', () => {
    const s = setUp(3);
    s.put(0, { id: 1, flags: DescFlag.NEXT });
    s.put(1, { id: 1 });
    s.q.pop();
    const copy = new PackedQueue(s.memory, 8);
    copy.restore(s.q.save());
    copy.activate({ eventIdx: false, indirect: false });
    // Slot 2 and then slot 0 of the next lap: slot 0 is still the device's.
    s.put(2, { id: 0, flags: DescFlag.NEXT });
    s.put(0, { id: 0, wrap: 0 });
    expect(popError(copy)).toEqual({ kind: 'ring-overrun', message: 'buffer at ring slot 2 runs past the 1 descriptors the driver owns' });
  });

  it('starts afresh on resetRing (a driver that disabled the queue)', () => {
    const s = setUp(3);
    s.put(0, { id: 1 });
    s.q.pop();
    s.q.resetRing();
    expect(s.q.save()).toMatchObject({ size: 3, ready: true, nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1, inFlight: [] });
    // Buffer 1 is no longer in flight: the same id is taken again.
    expect(s.q.pop()?.head).toBe(1);
  });
});
