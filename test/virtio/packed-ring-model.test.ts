import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MmioDriver, type MmioBus } from '../../src/guest/mmio-driver.js';
import { type PackedDriverQueue, layoutPackedRing } from '../../src/guest/packed-driver-queue.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { WatchedMemory } from '../../src/testing/watched-memory.js';
import { Feature, Interrupt, featureBit } from '../../src/virtio/constants.js';
import type { Segment } from '../../src/virtio/descriptor-chain.js';
import { PackedQueue } from '../../src/virtio/packed-queue.js';
import { usedBits } from '../../src/virtio/packed-ring.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';
import { HoldDevice } from '../support/hold-device.js';
import { runs } from '../support/runs.js';

// A packed ring end to end: PackedDriverQueue through MmioDriver, a device (HoldDevice: it
// takes every buffer at a kick, the host gives them back in any order) and the mmio transport
// on one memory, run against a reference model of virtio 1.2 §2.8 written in absolute
// descriptor counts, with no slots, wrap counters or u16 arithmetic: buffers come back by id
// with the echoed bytes, none lost or duplicated, in the order the device completed them; the
// driver kicks exactly when the device's event suppression asks and the device interrupts
// exactly when the driver's does; every used descriptor's flags are written last. Queue sizes
// 1 to 8, powers of two or not, so every run wraps the ring many times.

const RING = 0x1000;
const INDIRECT = { area: 0x4000, maxSegments: 4 };
const DATA = 0x10000;
/** Each token owns a 512-byte slot: out segments at +0, in segments at +256, 64 bytes apart. */
const SLOT = 512;
const SEG_MAX = 48;

type Mode = 'enable' | 'disable' | 'desc';

/** One buffer as the model knows it: the bytes it carries, the room it offers, the descriptors it takes. */
interface Buffer {
  readonly token: number;
  readonly out: readonly Uint8Array[];
  readonly room: readonly number[];
  readonly descriptors: number;
}

interface Model {
  size: number;
  eventIdx: boolean;
  indirect: boolean;
  free: number;
  /** Made available, taken by the device and held, completed and not collected. */
  available: Buffer[];
  held: Buffer[];
  used: Array<{ buffer: Buffer; len: number }>;
  /** Descriptors made available, taken, used, collected: absolute counts since setup. */
  madeAvailable: number;
  taken: number;
  usedCount: number;
  collected: number;
  availAtLastKick: number;
  usedAtLastSignal: number;
  /** The device's kick request: off, on, or (EVENT_IDX) the descriptor `kickEvent`. */
  kicks: Mode;
  kickEvent: number;
  /** The driver's interrupt request, as Linux keeps it (event_flags_shadow) and its event. */
  interrupts: Mode;
  interruptEvent: number;
  usedIrqPending: boolean;
  nextToken: number;
  kickCount: number;
  interruptCount: number;
}

interface Real {
  memory: WatchedMemory;
  device: HoldDevice;
  bus: MmioBus;
  driver: MmioDriver;
  queue: PackedDriverQueue<number>;
  kickCount: number;
  interruptCount: number;
  /** Writes to the ring while the device completes a buffer: [offset in the ring, length]. */
  ringWrites: Array<readonly [number, number]> | undefined;
}

const slot = (token: number): number => DATA + token * SLOT;
const segments = (base: number, lengths: readonly number[]): Segment[] => lengths.map((length, i) => ({ gpa: base + i * 64, length }));
const concat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));
/** Is `event` among the descriptors from `from` up to (not including) `to`? */
const among = (event: number, from: number, to: number): boolean => event >= from && event < to;

function setUp(m: Model, r: Real, size: number, want: { eventIdx: boolean; indirect: boolean }, offer: { eventIdx: boolean; indirect: boolean }): void {
  const eventIdx = want.eventIdx && offer.eventIdx;
  const indirect = want.indirect && offer.indirect;
  const bit = (on: boolean, f: number): bigint => (on ? featureBit(f) : 0n);
  const accepted = r.driver.negotiate(featureBit(Feature.RING_PACKED) | bit(want.eventIdx, Feature.EVENT_IDX) | bit(want.indirect, Feature.INDIRECT_DESC));
  expect(accepted).toBe(featureBit(Feature.VERSION_1) | featureBit(Feature.RING_PACKED) | bit(eventIdx, Feature.EVENT_IDX) | bit(indirect, Feature.INDIRECT_DESC));
  r.queue = r.driver.setupPackedQueue<number>(0, layoutPackedRing(RING, size), { eventIdx, ...(indirect ? { indirect: INDIRECT } : {}) });
  r.driver.driverOk();
  expect(r.device.queues[0]!.layout).toBe('packed');
  Object.assign(m, {
    size,
    eventIdx,
    indirect,
    free: size,
    available: [],
    held: [],
    used: [],
    madeAvailable: 0,
    taken: 0,
    usedCount: 0,
    collected: 0,
    availAtLastKick: 0,
    usedAtLastSignal: 0,
    // Activation asks for kicks: with EVENT_IDX for the first descriptor the driver makes available.
    kicks: eventIdx ? 'desc' : 'enable',
    kickEvent: 0,
    // A zeroed driver event structure asks for every interrupt (Linux starts there too).
    interrupts: 'enable',
    interruptEvent: 0,
    usedIrqPending: false,
  });
}

function check(m: Model, r: Real): void {
  expect(r.device.needsResetReason, 'a driver that keeps the rules never puts the device in NEEDS_RESET').toBeUndefined();
  expect(r.kickCount, 'the driver kicks exactly when the device event suppression asks (§2.8.10)').toBe(m.kickCount);
  expect(r.interruptCount, 'the device interrupts exactly when the driver event suppression asks (§2.8.10)').toBe(m.interruptCount);
}

/** The device was notified: it takes every available buffer, in ring order (§2.8: "in order"). */
function modelServe(m: Model): void {
  for (const b of m.available) m.taken += b.descriptors;
  m.held.push(...m.available);
  m.available = [];
  // With EVENT_IDX the device asks for a kick at the next descriptor it has not taken.
  if (m.kicks === 'desc') m.kickEvent = m.taken;
}

type Cmd = fc.Command<Model, Real>;

class Add implements Cmd {
  constructor(
    readonly out: readonly Uint8Array[],
    readonly room: readonly number[],
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const token = m.nextToken++;
    this.out.forEach((bytes, i) => r.memory.write(slot(token) + i * 64, bytes));
    r.memory.fill(slot(token) + 256, 256, 0xee);
    const total = this.out.length + this.room.length;
    const descriptors = m.indirect && total > 1 && total <= INDIRECT.maxSegments ? 1 : total;
    const added = r.queue.add(
      segments(
        slot(token),
        this.out.map((b) => b.length),
      ),
      segments(slot(token) + 256, this.room),
      token,
    );
    expect(added, 'the driver refuses a buffer only when it lacks descriptors for it').toBe(m.free >= descriptors);
    if (!added) return;
    m.free -= descriptors;
    m.madeAvailable += descriptors;
    expect(r.queue.freeDescriptors).toBe(m.free);
    m.available.push({ token, out: this.out, room: this.room, descriptors });
  }
  toString = (): string => `add(out=[${this.out.map((b) => b.length)}], in=[${this.room}])`;
}

/** The driver's kick: only when the device asked, for every new descriptor or for the one it names. */
class Kick implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const fresh = m.madeAvailable > m.availAtLastKick;
    const due = fresh && (m.kicks === 'enable' || (m.kicks === 'desc' && among(m.kickEvent, m.availAtLastKick, m.madeAvailable)));
    m.availAtLastKick = m.madeAvailable;
    expect(r.driver.kick(0, r.queue), 'the driver kicks exactly when the device event suppression asks (§2.8.10)').toBe(due);
    if (due) {
      m.kickCount++;
      modelServe(m);
    }
    check(m, r);
  }
  toString = (): string => 'kick';
}

/** A notification whether or not one was due (spurious ones must be harmless). */
class ForcedNotify implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.bus.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    m.kickCount++;
    modelServe(m);
    check(m, r);
  }
  toString = (): string => 'notify';
}

/** The host gives back held buffer `pick` (mod the number held): 0 in order, anything else out of order. */
class Complete implements Cmd {
  constructor(readonly pick: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    if (m.held.length === 0) return;
    const k = this.pick % m.held.length;
    const [buffer] = m.held.splice(k, 1);
    // The device took exactly the segments the driver made available, in ring order.
    const chain = r.device.held[k];
    expect({ readable: chain?.readable, writable: chain?.writable }, 'the device holds the buffers the model does, in the order it took them').toEqual({
      readable: segments(
        slot(buffer!.token),
        buffer!.out.map((b) => b.length),
      ),
      writable: segments(slot(buffer!.token) + 256, buffer!.room),
    });
    r.ringWrites = [];
    const len = r.device.complete(k);
    const writes = r.ringWrites;
    r.ringWrites = undefined;
    expect(len).toBe(
      Math.min(
        concat(buffer!.out).length,
        buffer!.room.reduce((a, b) => a + b, 0),
      ),
    );
    // §2.8.6: the id and length of a used descriptor are in place before its flags hand it over.
    const at = 16 * (m.usedCount % m.size);
    const inSlot = writes.filter(([offset, length]) => offset < at + 16 && offset + length > at);
    expect(inSlot.at(-1), "the used descriptor's flags are written after its id and length (§2.8.6)").toEqual([at + 14, 2]);
    // §2.8.1: both bits equal the wrap counter of the lap it is written in (1 in the first lap).
    const wrap = Math.floor(m.usedCount / m.size) % 2 === 0 ? 1 : 0;
    expect(r.memory.readU16(RING + at + 14) & 0x8080, 'the used descriptor carries the used bits of its lap (§2.8.1)').toBe(usedBits(wrap));
    m.used.push({ buffer: buffer!, len });
    const from = m.usedAtLastSignal;
    m.usedCount += buffer!.descriptors;
    m.usedAtLastSignal = m.usedCount;
    const due = m.interrupts === 'enable' || (m.interrupts === 'desc' && among(m.interruptEvent, from, m.usedCount));
    if (due) {
      m.interruptCount++;
      m.usedIrqPending = true;
    }
    check(m, r);
  }
  toString = (): string => `complete(${this.pick})`;
}

class Collect implements Cmd {
  constructor(readonly max: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    for (let i = 0; i < this.max; i++) {
      const got = r.queue.getUsed();
      const want = m.used.shift();
      expect(got?.token, 'the driver finds each used buffer at its position, in the order the device completed them (§2.8.1, §2.8.6)').toBe(want?.buffer.token);
      if (want === undefined || got === undefined) return;
      expect(got.len).toBe(want.len);
      const b = want.buffer;
      const data = concat(b.out);
      const echoed = concat(segments(slot(b.token) + 256, b.room).map((s) => r.memory.read(s.gpa, s.length)));
      expect([...echoed.subarray(0, want.len)]).toEqual([...data.subarray(0, want.len)]);
      // Device-readable buffers are never written (§2.8.13 device requirements).
      b.out.forEach((bytes, k) => expect([...r.memory.read(slot(b.token) + k * 64, bytes.length)]).toEqual([...bytes]));
      m.free += b.descriptors;
      m.collected += b.descriptors;
      // Linux re-arms a descriptor event at the next used descriptor as it collects.
      if (m.interrupts === 'desc') m.interruptEvent = m.collected;
    }
  }
  toString = (): string => `collect(${this.max})`;
}

/** virtqueue_enable_cb_prepare / disable_cb. */
class Interrupts implements Cmd {
  constructor(readonly on: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.queue.setInterrupts(this.on);
    if (!this.on) m.interrupts = 'disable';
    else {
      if (m.eventIdx) m.interruptEvent = m.collected;
      if (m.interrupts === 'disable') m.interrupts = m.eventIdx ? 'desc' : 'enable';
    }
  }
  toString = (): string => `interrupts(${this.on})`;
}

/** virtqueue_enable_cb_delayed: with EVENT_IDX, an event three quarters of the way through what is in flight. */
class InterruptsDelayed implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const waiting = m.used.length > 0;
    expect(r.queue.setInterruptsDelayed(), 'a delayed re-enable reports a used buffer already waiting').toBe(!waiting);
    if (m.eventIdx) m.interruptEvent = m.collected + Math.floor(((m.size - m.free) * 3) / 4);
    if (m.interrupts === 'disable') m.interrupts = m.eventIdx ? 'desc' : 'enable';
  }
  toString = (): string => 'interruptsDelayed';
}

/** The device turns kicks off while it polls, and on again. */
class DeviceKicks implements Cmd {
  constructor(readonly on: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.device.queues[0]!.setKicks(this.on);
    m.kicks = !this.on ? 'disable' : m.eventIdx ? 'desc' : 'enable';
    if (m.kicks === 'desc') m.kickEvent = m.taken;
  }
  toString = (): string => `deviceKicks(${this.on})`;
}

class Acknowledge implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    expect(r.driver.takeInterrupts()).toBe(m.usedIrqPending ? Interrupt.USED_BUFFER : 0);
    m.usedIrqPending = false;
  }
  toString = (): string => 'ack';
}

const length = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: SEG_MAX }));
const buffer = fc
  .array(
    fc.oneof(
      length.chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      length,
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map(
    (parts) =>
      new Add(
        parts.filter((p) => p instanceof Uint8Array),
        parts.filter((p) => typeof p === 'number'),
      ),
  );
const complete = fc.oneof(fc.constant(0), fc.nat(7)).map((k) => new Complete(k));
const collect = fc.integer({ min: 1, max: 8 }).map((n) => new Collect(n));
// The ring traffic (add, kick, complete, collect) weighs most, so that a run goes round the ring
// many times; the suppression changes come between.
const commands = fc.commands(
  [
    buffer,
    buffer,
    fc.constant(new Kick()),
    fc.constant(new Kick()),
    fc.constant(new ForcedNotify()),
    complete,
    complete,
    complete,
    collect,
    collect,
    fc.boolean().map((on) => new Interrupts(on)),
    fc.constant(new InterruptsDelayed()),
    fc.boolean().map((on) => new DeviceKicks(on)),
    fc.constant(new Acknowledge()),
  ],
  { maxCommands: 120, size: 'large' },
);
const often = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const features = fc.record({ eventIdx: often, indirect: often });

type MakePacked = (memory: GuestMemory, maxSize: number) => PackedQueue;

/**
 * The property, with the device's packed queue made by `makePacked` (a broken twin, or the
 * real one), the device offering what `offers` draws.
 */
function packedRingProperty(makePacked?: MakePacked, offers = features) {
  return fc.property(fc.integer({ min: 1, max: 8 }), features, offers, commands, (size, want, offer, cmds) => {
    const memory = new WatchedMemory(new FlatMemory(1 << 20));
    const offered = featureBit(Feature.RING_PACKED) | (offer.eventIdx ? featureBit(Feature.EVENT_IDX) : 0n) | (offer.indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
    const device = new HoldDevice(memory, 8, offered, makePacked);
    const transport = new MmioTransport(device);
    const real = { memory, device, kickCount: 0, interruptCount: 0, ringWrites: undefined } as Real;
    memory.onWrite = (gpa, len) => {
      if (gpa >= RING && gpa < RING + 16 * size) real.ringWrites?.push([gpa - RING, len]);
    };
    real.bus = {
      read: (offset, sz) => transport.read(offset, sz),
      write: (offset, sz, value) => {
        if (offset === MmioReg.QUEUE_NOTIFY) real.kickCount++;
        transport.write(offset, sz, value);
      },
    };
    real.driver = new MmioDriver(real.bus, memory);
    device.interrupt$.subscribe((e) => {
      if (e.kind === 'used') real.interruptCount++;
    });
    const model = { nextToken: 0, kickCount: 0, interruptCount: 0 } as Model;
    setUp(model, real, size, want, offer);
    fc.modelRun(() => ({ model, real }), cmds);
    // Nothing is lost: one more notification, every held buffer back, and all of them collected.
    new ForcedNotify().run(model, real);
    while (model.held.length > 0) new Complete(0).run(model, real);
    new Collect(size + 1).run(model, real);
    expect(real.queue.outstanding).toBe(0);
    expect(model.free).toBe(size);
  });
}

/** The property's failure, or undefined when it holds (for the broken twins). */
function failure(makePacked: MakePacked, offers = features): string | undefined {
  const result = fc.check(packedRingProperty(makePacked, offers), { numRuns: runs(300) });
  return result.failed ? String(result.errorInstance) : undefined;
}

/** Never flips the Device Ring Wrap Counter: after a lap its used descriptors look like the previous lap's. */
class WrapNotFlipped extends PackedQueue {
  protected override advanceUsed(slots: number): void {
    const wrap = this.usedWrap;
    super.advanceUsed(slots);
    this.usedWrap = wrap;
  }
}

/** Writes the used flags first, then the id and length: a driver polling the flags can read a stale id. */
class FlagsBeforeId extends PackedQueue {
  protected override writeUsed(at: number, id: number, len: number, wrap: number): void {
    this.memory.writeU16(at + 14, usedBits(wrap) | (len > 0 ? 2 : 0));
    this.memory.writeU32(at + 8, len);
    this.memory.writeU16(at + 12, id);
  }
}

/** Reads the driver's event as a slot of the current lap whatever its wrap counter says: events of the previous lap are missed. */
class IgnoresEventWrap extends PackedQueue {
  protected override eventDue(offWrapWord: number, slot: number, wrap: number, advanced: number): boolean {
    return super.eventDue((offWrapWord & 0x7fff) | (wrap << 15), slot, wrap, advanced);
  }
}

describe('packed ring: driver, device and mmio against the model', () => {
  it('returns every buffer by id in completion order, and kicks and interrupts exactly per the spec', () => {
    fc.assert(packedRingProperty(), { numRuns: runs(1500) });
  });

  it('catches a device that does not flip its wrap counter: its used descriptors of the second lap look like the first', () => {
    // Without EVENT_IDX, so that the stale counter cannot show first as a missed event.
    const noEventIdx = fc.record({ eventIdx: fc.constant(false), indirect: often });
    expect(failure((memory, max) => new WrapNotFlipped(memory, max), noEventIdx)).toMatch(/carries the used bits of its lap/);
  });

  it('catches a device that writes the used flags before the id: the order check names it', () => {
    expect(failure((memory, max) => new FlagsBeforeId(memory, max))).toMatch(/flags are written after its id and length/);
  });

  it('catches a device that misses an event of the previous lap: an interrupt the driver asked for never comes', () => {
    expect(failure((memory, max) => new IgnoresEventWrap(memory, max))).toMatch(/the device interrupts exactly when the driver event suppression asks/);
  });
});
