import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layoutRing, type DriverQueue } from '../../src/guest/driver-queue.js';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { EchoDevice } from '../../src/testing/echo-device.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import { MmioReg, MmioTransport } from '../../src/virtio/transport/mmio.js';
import { runs } from '../support/runs.js';

// Driver ring + device ring + mmio transport against a model of the split ring protocol
// (virtio 1.2 §2.7): FIFO service, nothing lost or duplicated, and the exact kick and interrupt
// decisions of EVENT_IDX and the flags, from indices that start just below the 65535 → 0 wrap.

const Q = 8;
const RING = layoutRing(0x1000, Q);
const INDIRECT = { area: 0x4000, maxSegments: 4 };
const DATA = 0x10000; // chain buffers: 256 bytes per token slot

interface Model {
  eventIdx: boolean;
  /** Tokens made available and not yet served, in order, with the bytes they carry. */
  available: Array<{ token: number; data: number[]; room: number }>;
  /** Served and not yet collected. */
  used: Array<{ token: number; data: number[]; room: number }>;
  availIdx: number;
  servedIdx: number;
  collectedIdx: number;
  availAtLastKick: number;
  usedAtLastSignal: number;
  usedEvent: number;
  interruptsOn: boolean;
  nextToken: number;
  interrupts: number;
}

interface Real {
  memory: FlatMemory;
  device: EchoDevice;
  transport: MmioTransport;
  driver: MmioDriver;
  queue: DriverQueue<number>;
  interrupts: number;
}

/** Positions old … new-1 (mod 2^16) include `event`: the spec's rule for both directions. */
function crosses(event: number, oldIdx: number, newIdx: number): boolean {
  for (let i = oldIdx; i !== newIdx; i = (i + 1) & 0xffff) if (i === event) return true;
  return false;
}

function setUp(m: Model, r: Real, start: number, eventIdx: boolean, indirect: boolean): void {
  const wanted = (eventIdx ? featureBit(Feature.EVENT_IDX) : 0n) | (indirect ? featureBit(Feature.INDIRECT_DESC) : 0n);
  expect(r.driver.negotiate(wanted)).toBeDefined();
  r.queue = r.driver.setupQueue<number>(0, RING, { eventIdx, startIndex: start, ...(indirect ? { indirect: INDIRECT } : {}) });
  r.driver.driverOk();
  // Resume the device side at the same index, as after a migration, and let it ask for kicks.
  const q = r.device.queues[0]!;
  q.restore({ ...q.save(), nextAvail: start, nextUsed: start });
  q.setKicks(true);
  Object.assign(m, {
    eventIdx,
    available: [],
    used: [],
    availIdx: start,
    servedIdx: start,
    collectedIdx: start,
    availAtLastKick: start,
    usedAtLastSignal: start,
    usedEvent: start,
    interruptsOn: true,
  });
}

/** What the device does on a notification, in the model: serve all, maybe interrupt. */
function modelServe(m: Model): void {
  m.used.push(...m.available);
  m.available = [];
  const oldIdx = m.usedAtLastSignal;
  m.servedIdx = m.availIdx;
  m.usedAtLastSignal = m.servedIdx;
  if (oldIdx === m.servedIdx) return;
  const wants = m.eventIdx ? crosses(m.usedEvent, oldIdx, m.servedIdx) : m.interruptsOn;
  if (wants) m.interrupts++;
}

type Cmd = fc.Command<Model, Real>;

class Add implements Cmd {
  constructor(
    readonly data: number[],
    readonly outSegments: number,
    readonly room: number,
    readonly inSegments: number,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const token = m.nextToken++;
    const base = DATA + (token % 64) * 256;
    r.memory.write(base, Uint8Array.from(this.data));
    const split = (gpa: number, length: number, parts: number) => {
      const size = Math.ceil(length / parts);
      return Array.from({ length: parts }, (_, i) => ({ gpa: gpa + i * size, length: Math.max(0, Math.min(size, length - i * size)) }));
    };
    const out = split(base, this.data.length, this.outSegments);
    const inn = split(base + 128, this.room, this.inSegments);
    const descriptors = r.queue.freeDescriptors;
    const ok = r.queue.add(out, inn, token);
    const needed = (this.outSegments + this.inSegments > 1 && r.device.hasNegotiated(Feature.INDIRECT_DESC)) ? 1 : this.outSegments + this.inSegments;
    expect(ok).toBe(descriptors >= needed);
    if (!ok) return;
    m.available.push({ token, data: this.data, room: this.room });
    m.availIdx = (m.availIdx + 1) & 0xffff;
  }
  toString = (): string => `add(${this.data.length}B/${this.outSegments}, ${this.room}B/${this.inSegments})`;
}

class Kick implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    // Kick needed iff avail_event (= what the device had served) lies in the new positions.
    const expected = m.availIdx !== m.availAtLastKick && (!m.eventIdx || crosses(m.servedIdx, m.availAtLastKick, m.availIdx));
    m.availAtLastKick = m.availIdx;
    expect(r.driver.kick(0, r.queue)).toBe(expected);
    if (expected) modelServe(m);
    check(m, r);
  }
  toString = (): string => 'kick';
}

class SpuriousNotify implements Cmd {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.transport.write(MmioReg.QUEUE_NOTIFY, 4, 0);
    modelServe(m);
    check(m, r);
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
      if (want === undefined || got === undefined) break;
      const len = Math.min(want.data.length, want.room);
      expect(got.len).toBe(len);
      const base = DATA + (want.token % 64) * 256;
      expect([...r.memory.read(base + 128, len)]).toEqual(want.data.slice(0, len));
      m.collectedIdx = (m.collectedIdx + 1) & 0xffff;
      if (m.eventIdx) m.usedEvent = m.collectedIdx;
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
    if (m.eventIdx && this.on) m.usedEvent = m.collectedIdx;
  }
  toString = (): string => `interrupts(${this.on})`;
}

class Reset implements Cmd {
  constructor(
    readonly start: number,
    readonly eventIdx: boolean,
    readonly indirect: boolean,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    setUp(m, r, this.start, this.eventIdx, this.indirect);
    expect(r.device.queues[0]!.ready).toBe(true);
  }
  toString = (): string => `reset(${this.start}, eventIdx=${this.eventIdx}, indirect=${this.indirect})`;
}

function check(m: Model, r: Real): void {
  expect(r.device.needsResetReason).toBeUndefined();
  expect(r.interrupts).toBe(m.interrupts);
}

const nearWrap = fc.integer({ min: 65536 - 2 * Q, max: 65535 });
const commands = fc.commands(
  [
    fc
      .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 100 }), fc.integer({ min: 1, max: 2 }), fc.integer({ min: 0, max: 120 }), fc.integer({ min: 1, max: 2 }))
      .map(([data, o, room, i]) => new Add(data, o, room, i)),
    fc.constant(new Kick()),
    fc.constant(new SpuriousNotify()),
    fc.integer({ min: 1, max: Q }).map((n) => new Collect(n)),
    fc.boolean().map((on) => new Interrupts(on)),
    fc.tuple(nearWrap, fc.boolean(), fc.boolean()).map(([s, e, i]) => new Reset(s, e, i)),
  ],
  { maxCommands: 60 },
);

describe('split ring: driver, device and mmio against the model', () => {
  it('serves in FIFO order, loses and duplicates nothing, and kicks and interrupts exactly per the spec', () => {
    fc.assert(
      fc.property(nearWrap, fc.boolean(), fc.boolean(), commands, (start, eventIdx, indirect, cmds) => {
        const memory = new FlatMemory(1 << 20);
        const device = new EchoDevice(memory, Q, featureBit(Feature.EVENT_IDX) | featureBit(Feature.INDIRECT_DESC));
        const transport = new MmioTransport(device);
        const real: Real = { memory, device, transport, driver: new MmioDriver(transport, memory), queue: undefined as unknown as DriverQueue<number>, interrupts: 0 };
        device.interrupt$.subscribe((e) => {
          if (e.kind === 'used') real.interrupts++;
        });
        const model = { nextToken: 0, interrupts: 0 } as Model;
        setUp(model, real, start, eventIdx, indirect);
        fc.modelRun(() => ({ model, real }), cmds);
      }),
      { numRuns: runs(200) },
    );
  });
});
