import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layoutRing, type DriverQueue } from '../../src/guest/driver-queue.js';
import { MmioDriver, type MmioBus } from '../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { Feature, Interrupt, featureBit } from '../../src/virtio/constants.js';
import type { Segment } from '../../src/virtio/descriptor-chain.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';
import { runs } from '../support/runs.js';

// A driver ring (DriverQueue through MmioDriver), a device ring (EchoDevice, one queue) and the
// mmio transport on one FlatMemory, run against a model of the split ring protocol (virtio 1.2
// §2.7): chains come back in FIFO order, none lost or duplicated, with the echoed bytes and the
// right used len; kicks and interrupts happen exactly when §2.7.7.2 / §2.7.10.2 say; and both
// sides start just below the 65535 → 0 wrap of the free-running u16 indices.

const Q = 8;
const RING = layoutRing(0x1000, Q);
const INDIRECT = { area: 0x4000, maxSegments: 4 };
const DATA = 0x10000;
/** Each token owns a 512-byte slot: out segments at +0, in segments at +256, 64 bytes apart. */
const SLOT = 512;
const SEG_MAX = 48;

/** One chain as the model knows it: the bytes it carries and the room it offers. */
interface Chain {
  readonly token: number;
  readonly out: readonly Uint8Array[];
  readonly room: readonly number[];
  /** Descriptors it takes in the table: 1 when it went indirect. */
  readonly descriptors: number;
}

type RingFeatures = { readonly eventIdx: boolean; readonly indirect: boolean };

interface Model {
  /** What the device offers of the two ring features. */
  offer: RingFeatures;
  eventIdx: boolean;
  indirect: boolean;
  /** Made available and not yet served, in ring order. */
  available: Chain[];
  /** Served and not yet collected, in used-ring order. */
  used: Chain[];
  freeDescriptors: number;
  availIdx: number;
  servedIdx: number;
  collectedIdx: number;
  availAtLastKick: number;
  usedAtLastSignal: number;
  /** used_event as the driver last wrote it (EVENT_IDX). */
  usedEvent: number;
  interruptsOn: boolean;
  /** The device wants kicks (used.flags NO_NOTIFY clear); it may turn them off while it polls. */
  kicksOn: boolean;
  /** InterruptStatus bit 0 is set and not yet acknowledged. */
  usedIrqPending: boolean;
  nextToken: number;
  kicks: number;
  interrupts: number;
}

interface Real {
  memory: FlatMemory;
  device: EchoDevice;
  transport: MmioTransport;
  /** The register window as the driver sees it; it counts the kicks. */
  bus: MmioBus;
  driver: MmioDriver;
  queue: DriverQueue<number>;
  /** QUEUE_NOTIFY writes that reached the transport. */
  kicks: number;
  /** Used-buffer interrupts the device raised. */
  interrupts: number;
}

/** Does position `event` lie among old, old+1, …, new−1 (mod 2^16)? The spec's rule, spelt out. */
function crosses(event: number, oldIdx: number, newIdx: number): boolean {
  for (let i = oldIdx; i !== newIdx; i = (i + 1) & 0xffff) if (i === event) return true;
  return false;
}

const slot = (token: number): number => DATA + token * SLOT;
const segments = (base: number, lengths: readonly number[]): Segment[] => lengths.map((length, i) => ({ gpa: base + i * 64, length }));
const concat = (parts: readonly Uint8Array[]): Uint8Array => Uint8Array.from(parts.flatMap((p) => [...p]));

/** Reset, negotiate `want ∩ offer`, set the queue up, and put both sides at index `start`. */
function setUp(m: Model, r: Real, start: number, want: RingFeatures): void {
  const eventIdx = want.eventIdx && m.offer.eventIdx;
  const indirect = want.indirect && m.offer.indirect;
  const bit = (on: boolean, f: number): bigint => (on ? featureBit(f) : 0n);
  const accepted = r.driver.negotiate(bit(want.eventIdx, Feature.EVENT_IDX) | bit(want.indirect, Feature.INDIRECT_DESC));
  // §2.2.1: the driver ends up with exactly what it wanted of what was offered.
  expect(accepted).toBe(featureBit(Feature.VERSION_1) | bit(eventIdx, Feature.EVENT_IDX) | bit(indirect, Feature.INDIRECT_DESC));
  r.queue = r.driver.setupQueue<number>(0, RING, { eventIdx, startIndex: start, ...(indirect ? { indirect: INDIRECT } : {}) });
  r.driver.driverOk();
  // The device side resumes at the same index through the public snapshot API, as after a
  // migration. The ring memory here is fresh, so it publishes avail_event again itself.
  const q = r.device.queues[0]!;
  if (q.layout !== 'split') throw new Error('a split queue was negotiated');
  q.restore({ ...q.save(), nextAvail: start, nextUsed: start });
  q.setKicks(true);
  expect(q.save()).toMatchObject({ ready: true, nextAvail: start, nextUsed: start });
  Object.assign(m, {
    eventIdx,
    indirect,
    available: [],
    used: [],
    freeDescriptors: Q,
    availIdx: start,
    servedIdx: start,
    collectedIdx: start,
    availAtLastKick: start,
    usedAtLastSignal: start,
    usedEvent: start,
    interruptsOn: true,
    kicksOn: true,
  });
}

/** The device was notified: the echo device serves everything available, then maybe interrupts. */
function modelServe(m: Model): void {
  m.used.push(...m.available);
  m.available = [];
  m.servedIdx = m.availIdx;
  const oldIdx = m.usedAtLastSignal;
  m.usedAtLastSignal = m.servedIdx;
  if (oldIdx === m.servedIdx) return;
  // §2.7.10: flags mode interrupts unless NO_INTERRUPT; EVENT_IDX mode when used_event was
  // just passed. A driver with interrupts off never re-arms used_event, so it gets none.
  const wanted = m.interruptsOn && (!m.eventIdx || crosses(m.usedEvent, oldIdx, m.servedIdx));
  if (wanted) {
    m.interrupts++;
    m.usedIrqPending = true;
  }
}

function checkDevice(m: Model, r: Real): void {
  expect(r.device.needsResetReason).toBeUndefined();
  expect(r.kicks).toBe(m.kicks);
  expect(r.interrupts).toBe(m.interrupts);
  // used.idx in guest memory is what the device published: every served chain, no more.
  expect(r.memory.readU16(RING.usedRing + 2)).toBe(m.servedIdx);
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
    const out = segments(
      slot(token),
      this.out.map((b) => b.length),
    );
    const added = r.queue.add(out, segments(slot(token) + 256, this.room), token);
    // The driver refuses a chain only when the table lacks descriptors for it.
    expect(added).toBe(m.freeDescriptors >= descriptors);
    if (!added) return;
    m.freeDescriptors -= descriptors;
    expect(r.queue.freeDescriptors).toBe(m.freeDescriptors);
    m.available.push({ token, out: this.out, room: this.room, descriptors });
    m.availIdx = (m.availIdx + 1) & 0xffff;
  }
  toString = (): string => `add(out=[${this.out.map((b) => b.length)}], in=[${this.room}])`;
}

/** The driver's kick: only when the device asked for one (avail_event, or used.flags). */
class Kick implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    // Flags mode: unless the device set NO_NOTIFY. EVENT_IDX mode: the device's avail_event is
    // where it stopped reading, so a kick is due when that position is among the new ones.
    const fresh = m.availIdx !== m.availAtLastKick;
    const due = fresh && (m.eventIdx ? crosses(m.servedIdx, m.availAtLastKick, m.availIdx) : m.kicksOn);
    m.availAtLastKick = m.availIdx;
    expect(r.driver.kick(0, r.queue)).toBe(due);
    if (due) {
      m.kicks++;
      modelServe(m);
    }
    checkDevice(m, r);
  }
  toString = (): string => 'kick';
}

/** A notification whether or not one was due (spurious ones must be harmless, §2.7.7.1). */
class ForcedNotify implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.bus.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    m.kicks++;
    modelServe(m);
    checkDevice(m, r);
  }
  toString = (): string => 'notify';
}

class Collect implements Cmd {
  constructor(readonly max: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    for (let i = 0; i < this.max; i++) {
      const got = r.queue.getUsed();
      const want = m.used.shift();
      expect(got?.token).toBe(want?.token);
      if (want === undefined || got === undefined) return;
      const data = concat(want.out);
      const len = Math.min(
        data.length,
        want.room.reduce((a, b) => a + b, 0),
      );
      expect(got.len).toBe(len);
      const echoed = concat(segments(slot(want.token) + 256, want.room).map((s) => r.memory.read(s.gpa, s.length)));
      expect([...echoed.subarray(0, len)]).toEqual([...data.subarray(0, len)]);
      // §2.7.5.1: device-readable buffers are never written, nor anything between the writable ones.
      want.out.forEach((bytes, k) => expect([...r.memory.read(slot(want.token) + k * 64, bytes.length)]).toEqual([...bytes]));
      const inWritable = (k: number): boolean => want.room.some((length, i) => k >= i * 64 && k < i * 64 + length);
      expect(r.memory.read(slot(want.token) + 256, 256).every((b, k) => inWritable(k) || b === 0xee)).toBe(true);
      m.freeDescriptors += want.descriptors;
      m.collectedIdx = (m.collectedIdx + 1) & 0xffff;
      if (m.eventIdx && m.interruptsOn) m.usedEvent = m.collectedIdx;
    }
  }
  toString = (): string => `collect(${this.max})`;
}

class Interrupts implements Cmd {
  constructor(readonly on: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.queue.setInterrupts(this.on);
    m.interruptsOn = this.on;
    // Re-enabling arms used_event at the next entry to collect; anything already used is
    // found by polling (the §2.7.14 race), not by an interrupt.
    if (this.on) m.usedEvent = m.collectedIdx;
  }
  toString = (): string => `interrupts(${this.on})`;
}

/**
 * The device turns kicks off while it polls, and on again (SplitQueue.setKicks). With EVENT_IDX
 * a device, like QEMU's, keeps publishing avail_event as it pops, so only turning on matters.
 */
class DeviceKicks implements Cmd {
  constructor(readonly on: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.device.queues[0]!.setKicks(this.on);
    m.kicksOn = this.on;
  }
  toString = (): string => `deviceKicks(${this.on})`;
}

/** The interrupt handler's first step: read InterruptStatus and acknowledge it. */
class Acknowledge implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    expect(r.driver.takeInterrupts()).toBe(m.usedIrqPending ? Interrupt.USED_BUFFER : 0);
    m.usedIrqPending = false;
  }
  toString = (): string => 'ack';
}

class Reset implements Cmd {
  constructor(
    readonly start: number,
    readonly eventIdx: boolean,
    readonly indirect: boolean,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    setUp(m, r, this.start, { eventIdx: this.eventIdx, indirect: this.indirect });
    // A reset clears InterruptStatus (§4.2.2.2).
    m.usedIrqPending = false;
  }
  toString = (): string => `reset(start=${this.start}, eventIdx=${this.eventIdx}, indirect=${this.indirect})`;
}

/** Within a ring's length of the wrap, so that most runs cross it, some at once. */
const nearWrap = fc.integer({ min: 65536 - Q, max: 65535 });
/** 1–4 segments, device-readable ones (with contents) first, then device-writable ones. */
const length = fc.oneof(fc.constant(0), fc.integer({ min: 1, max: SEG_MAX }));
const chain = fc
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
const commands = fc.commands(
  [
    chain,
    fc.constant(new Kick()),
    fc.constant(new ForcedNotify()),
    fc.integer({ min: 1, max: Q }).map((n) => new Collect(n)),
    fc.boolean().map((on) => new Interrupts(on)),
    fc.boolean().map((on) => new DeviceKicks(on)),
    fc.constant(new Acknowledge()),
    fc.tuple(nearWrap, fc.boolean(), fc.boolean()).map(([s, e, i]) => new Reset(s, e, i)),
  ],
  { maxCommands: 80 },
);
const often = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const features = fc.record({ eventIdx: often, indirect: often });

describe('split ring: driver, device and mmio against the model', () => {
  it('serves in FIFO order, loses and duplicates nothing, and kicks and interrupts exactly per the spec', () => {
    fc.assert(
      fc.property(nearWrap, features, features, commands, (start, want, offer, cmds) => {
        const memory = new FlatMemory(1 << 20);
        const offered = (offer.eventIdx ? featureBit(Feature.EVENT_IDX) : 0n) | (offer.indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
        const device = new EchoDevice(memory, Q, offered);
        const transport = new MmioTransport(device);
        const real = { memory, device, transport, kicks: 0, interrupts: 0 } as Real;
        real.bus = {
          read: (offset, size) => transport.read(offset, size),
          write: (offset, size, value) => {
            if (offset === MmioReg.QUEUE_NOTIFY) real.kicks++;
            transport.write(offset, size, value);
          },
        };
        real.driver = new MmioDriver(real.bus, memory);
        device.interrupt$.subscribe((e) => {
          if (e.kind === 'used') real.interrupts++;
        });
        const model = { offer, nextToken: 0, kicks: 0, interrupts: 0, usedIrqPending: false } as Model;
        setUp(model, real, start, want);
        fc.modelRun(() => ({ model, real }), cmds);
        // Nothing is lost: one more notification and every outstanding chain comes back.
        new ForcedNotify().run(model, real);
        new Collect(Q + 1).run(model, real);
        expect(real.queue.outstanding).toBe(0);
        expect(model.freeDescriptors).toBe(Q);
      }),
      { numRuns: runs(2000) },
    );
  });
});
