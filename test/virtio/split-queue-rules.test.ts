import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DriverQueue, layoutRing } from '../../src/guest/driver-queue.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { MAX_QUEUE_SIZE } from '../../src/virtio/constants.js';
import { VirtioError, type VirtioErrorKind } from '../../src/virtio/errors.js';
import { SplitQueue, isValidQueueSize } from '../../src/virtio/split-queue.js';
import { runs } from '../support/runs.js';

// The device side of a split ring (virtio 1.2 §2.7), driven on its own: the used element
// layout, avail.idx bounds, and the two notification-suppression schemes (flags, EVENT_IDX).

const Q = 8;
const RING = layoutRing(0x1000, Q);
/** Where the EVENT_IDX fields sit (§2.7.6, §2.7.8): after the last ring entry of each ring. */
const USED_EVENT = RING.availRing + 4 + 2 * Q;
const AVAIL_EVENT = RING.usedRing + 4 + 8 * Q;
const NO_FEATURES = { eventIdx: false, indirect: false };
const EVENT_IDX = { eventIdx: true, indirect: false };

function setup(features = NO_FEATURES, { activate = true }: { activate?: boolean } = {}) {
  const memory = new FlatMemory(1 << 16);
  const driver = new DriverQueue<number>(memory, RING, { eventIdx: features.eventIdx, indirect: { area: 0x4000, maxSegments: 4 } });
  const queue = new SplitQueue(memory, Q);
  queue.size = Q;
  queue.descTable = RING.descTable;
  queue.availRing = RING.availRing;
  queue.usedRing = RING.usedRing;
  queue.ready = true;
  if (activate) queue.activate(features);
  return { memory, driver, queue };
}

/** A one-segment chain (never indirect). */
function addOne(driver: DriverQueue<number>, token: number): void {
  expect(driver.add([{ gpa: 0x8000, length: 4 }], [], token)).toBe(true);
}

function guestError(fn: () => unknown): VirtioError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(VirtioError);
    return error as VirtioError;
  }
  throw new Error('expected a VirtioError');
}

function expectKind(error: VirtioError, kind: VirtioErrorKind, message: RegExp): void {
  expect(error.kind).toBe(kind);
  expect(error.message).toMatch(message);
}

describe('queue sizes (§2.7: a power of two, at most 32768)', () => {
  it('accepts exactly the powers of two from 1 up to the maximum', () => {
    const cases: Array<[number, boolean]> = [
      [1, true],
      [2, true],
      [8, true],
      [0, false],
      [3, false],
      [6, false],
      [16, false], // a power of two, but above the maximum of 8
      [1.5, false],
      [-2, false],
      [Number.NaN, false],
    ];
    for (const [n, ok] of cases) expect([n, isValidQueueSize(n, 8)]).toEqual([n, ok]);
  });

  it('agrees with the definition for any integer', () => {
    fc.assert(
      fc.property(fc.integer({ min: -4, max: 70_000 }), (n) => {
        const powerOfTwo = n >= 1 && Number.isInteger(Math.log2(n));
        expect(isValidQueueSize(n, MAX_QUEUE_SIZE)).toBe(powerOfTwo && n <= MAX_QUEUE_SIZE);
      }),
      { numRuns: runs(500) },
    );
  });

  it('refuses to build a queue whose maximum is not a valid size', () => {
    const memory = new FlatMemory(1 << 16);
    for (const max of [0, 3, MAX_QUEUE_SIZE * 2]) {
      expect(() => new SplitQueue(memory, max)).toThrow(new RangeError(`queue size ${max} is not a power of two up to ${MAX_QUEUE_SIZE}`));
    }
    expect(new SplitQueue(memory, MAX_QUEUE_SIZE).size).toBe(MAX_QUEUE_SIZE);
  });
});

describe('activation checks the layout (§2.7 alignment table)', () => {
  it('names the size and the limit for a bad queue size', () => {
    const { queue } = setup(NO_FEATURES, { activate: false });
    queue.size = 6;
    expectKind(
      guestError(() => queue.activate(NO_FEATURES)),
      'bad-queue-size',
      /queue size 6 .*power of two up to 8/,
    );
  });

  it('names the area, its address and the alignment it needs', () => {
    const cases = [
      ['descTable', 0x1008, /descriptor table at 0x1008 .*16-byte/],
      ['availRing', 0x1081, /available ring at 0x1081 .*2-byte/],
      ['usedRing', 0x1102, /used ring at 0x1102 .*4-byte/],
    ] as const;
    for (const [field, gpa, message] of cases) {
      const { queue } = setup(NO_FEATURES, { activate: false });
      queue[field] = gpa;
      expectKind(
        guestError(() => queue.activate(NO_FEATURES)),
        'ring-misaligned',
        message,
      );
    }
  });

  it('names the area and its extent when it is not in RAM', () => {
    const { queue } = setup(NO_FEATURES, { activate: false });
    queue.usedRing = 0x10000 - 16;
    expectKind(
      guestError(() => queue.activate(NO_FEATURES)),
      'ring-out-of-range',
      /used ring 0xfff0\+70 /,
    );
  });
});

describe('avail.idx (§2.7.13)', () => {
  it('may run ahead of the device by exactly the queue size, but no further', () => {
    const { memory, driver, queue } = setup();
    for (let t = 0; t < Q; t++) addOne(driver, t);
    expect(queue.pending()).toBe(Q);
    const heads: number[] = [];
    for (let c = queue.pop(); c !== undefined; c = queue.pop()) heads.push(c.head);
    expect(heads).toHaveLength(Q);
    memory.writeU16(RING.availRing + 2, Q + Q + 1); // Q + 1 entries ahead of the device
    expectKind(
      guestError(() => queue.pending()),
      'avail-index-too-far',
      /9 entries ahead .*queue size 8/,
    );
  });
});

describe('the used ring (§2.7.8)', () => {
  it('writes {id, len} as two le32 at 4 + 8·i and then used.idx, touching nothing else', () => {
    const { memory, queue } = setup();
    queue.push(5, 0x1234);
    queue.push(7, 0xdeadbeef);
    expect(memory.readU16(RING.usedRing)).toBe(0); // flags: the driver's to read, the device left it
    expect(memory.readU16(RING.usedRing + 2)).toBe(2);
    expect([memory.readU32(RING.usedRing + 4), memory.readU32(RING.usedRing + 8)]).toEqual([5, 0x1234]);
    expect([memory.readU32(RING.usedRing + 12), memory.readU32(RING.usedRing + 16)]).toEqual([7, 0xdeadbeef]);
  });

  it('refuses a head outside the queue and leaves the ring untouched', () => {
    const { memory, queue } = setup();
    expectKind(
      guestError(() => queue.push(Q, 0)),
      'head-out-of-range',
      /used head 8 is outside a queue of 8/,
    );
    expect(memory.readU16(RING.usedRing + 2)).toBe(0);
    queue.push(Q - 1, 0);
    expect(memory.readU16(RING.usedRing + 2)).toBe(1);
  });
});

describe('used buffer notifications (§2.7.7)', () => {
  it('without EVENT_IDX, honours avail.flags NO_INTERRUPT', () => {
    const { memory, queue } = setup();
    memory.writeU16(RING.availRing, 1);
    queue.push(0, 0);
    expect(queue.takeInterrupt()).toBe(false);
    memory.writeU16(RING.availRing, 0);
    queue.push(1, 0);
    expect(queue.takeInterrupt()).toBe(true);
    expect(queue.takeInterrupt()).toBe(false); // nothing new since
  });

  it('with EVENT_IDX, interrupts only when used_event is crossed, whatever avail.flags says', () => {
    const { memory, queue } = setup(EVENT_IDX);
    memory.writeU16(USED_EVENT, 3);
    queue.push(0, 0); // position 0 published
    expect(queue.takeInterrupt()).toBe(false);
    queue.push(1, 0);
    queue.push(2, 0);
    queue.push(3, 0); // positions 1..3: crosses 3
    expect(queue.takeInterrupt()).toBe(true);
  });
});

describe('driver notifications (§2.7.10)', () => {
  it('without EVENT_IDX, uses used.flags NO_NOTIFY and never writes avail_event', () => {
    const { memory, driver, queue } = setup();
    memory.writeU16(AVAIL_EVENT, 0x7777); // a driver may keep anything past a ring without EVENT_IDX
    queue.setKicks(false);
    expect(memory.readU16(RING.usedRing)).toBe(1);
    queue.setKicks(true);
    expect(memory.readU16(RING.usedRing)).toBe(0);
    addOne(driver, 1);
    expect(queue.pop()?.head).toBeDefined();
    expect(memory.readU16(AVAIL_EVENT)).toBe(0x7777);
  });

  it('with EVENT_IDX, asks for the next kick through avail_event and leaves used.flags at 0', () => {
    const { memory, driver, queue } = setup(EVENT_IDX);
    addOne(driver, 1);
    addOne(driver, 2);
    queue.pop();
    expect(memory.readU16(AVAIL_EVENT)).toBe(1);
    memory.writeU16(AVAIL_EVENT, 0x7777);
    queue.setKicks(false);
    expect(memory.readU16(AVAIL_EVENT)).toBe(0x7777);
    expect(memory.readU16(RING.usedRing)).toBe(0);
    queue.setKicks(true);
    expect(memory.readU16(AVAIL_EVENT)).toBe(1);
    expect(memory.readU16(RING.usedRing)).toBe(0);
  });
});

describe('a queue with no ring features in force (never activated, or reset)', () => {
  /** Pop one indirect chain and one plain one; return what happened. */
  function probe(s: ReturnType<typeof setup>): { kind: VirtioErrorKind; availEvent: number } {
    s.memory.writeU16(AVAIL_EVENT, 0x7777);
    addOne(s.driver, 1);
    expect(s.queue.pop()?.head).toBeDefined();
    const availEvent = s.memory.readU16(AVAIL_EVENT);
    expect(s.driver.add([{ gpa: 0x8000, length: 4 }], [{ gpa: 0x9000, length: 4 }], 2)).toBe(true);
    return { kind: guestError(() => s.queue.pop()).kind, availEvent };
  }

  it('accepts no INDIRECT descriptor and writes no avail_event before activation', () => {
    expect(probe(setup(NO_FEATURES, { activate: false }))).toEqual({ kind: 'indirect-not-negotiated', availEvent: 0x7777 });
  });

  it('goes back to the state after device reset (§2.4)', () => {
    const s = setup({ eventIdx: true, indirect: true });
    addOne(s.driver, 0);
    s.queue.pop();
    s.queue.push(0, 0);
    s.queue.size = 4;
    s.queue.reset();
    expect(s.queue.save()).toEqual({ layout: 'split', size: Q, ready: false, descTable: 0, availRing: 0, usedRing: 0, nextAvail: 0, nextUsed: 0 });
    expect(s.queue.takeInterrupt()).toBe(false);
    // Set the same rings up again without activation: the negotiated ring features are gone.
    const fresh = new DriverQueue<number>(s.memory, RING, { indirect: { area: 0x4000, maxSegments: 4 } });
    s.queue.descTable = RING.descTable;
    s.queue.availRing = RING.availRing;
    s.queue.usedRing = RING.usedRing;
    expect(probe({ ...s, driver: fresh })).toEqual({ kind: 'indirect-not-negotiated', availEvent: 0x7777 });
  });
});
