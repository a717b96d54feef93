import { describe, expect, it } from 'vitest';
import { MmioDriver } from '../../src/guest/mmio-driver.js';
import { layoutPackedRing, type PackedDriverQueue } from '../../src/guest/packed-driver-queue.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import { BalloonDevice } from '../../src/virtio/balloon/balloon-device.js';
import { Feature, featureBit } from '../../src/virtio/constants.js';
import type { PackedQueueState } from '../../src/virtio/packed-queue.js';
import { parseQueueState } from '../../src/virtio/queue-state.js';
import { StateError } from '../../src/virtio/state-error.js';
import { MmioTransport } from '../../src/virtio/transport/mmio.js';
import { BUF, bits } from './balloon/rig.js';

// Saved packed queues (issue 22): the packed variant of the validated state, checked field by
// field like the split one, and a balloon that resumes a packed ring where it stopped.

const fresh: PackedQueueState = { layout: 'packed', size: 8, ready: false, descRing: 0, driverEvent: 0, deviceEvent: 0, nextAvail: 0, availWrap: 1, nextUsed: 0, usedWrap: 1, inFlight: [] };
const inUse: PackedQueueState = {
  ...fresh,
  size: 5,
  ready: true,
  descRing: 0x1000,
  driverEvent: 0x1050,
  deviceEvent: 0x1054,
  nextAvail: 1,
  availWrap: 0,
  nextUsed: 3,
  usedWrap: 1,
  inFlight: [
    [0, 2],
    [4, 1],
  ],
};

const parse = (q: unknown, live = true): unknown => parseQueueState(q, 'q', { maxSize: 8, live, packed: true });
const refused = (q: unknown, field: string, reason?: RegExp, live = true): void => {
  let error: unknown;
  try {
    parse(q, live);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(StateError);
  expect((error as StateError).field).toBe(field);
  if (reason) expect((error as StateError).reason).toMatch(reason);
};

describe('a saved packed queue', () => {
  it('accepts a fresh ring with whatever a driver wrote in the registers, and a ring in use', () => {
    expect(parse({ ...fresh, size: 0xffffffff, descRing: 2 ** 53 + 2 ** 32, driverEvent: 2 })).toEqual({ ...fresh, size: 0xffffffff, descRing: 2 ** 53 + 2 ** 32, driverEvent: 2 });
    expect(parse(inUse)).toEqual(inUse);
    // The ring full of buffers in flight, the wrap counters a lap apart.
    expect(parse({ ...inUse, nextAvail: 3, availWrap: 0, inFlight: [[1, 5]] })).toMatchObject({ inFlight: [[1, 5]] });
  });

  it('has the layout the features make', () => {
    refused({ ...fresh, layout: 'split' }, 'q.layout', /is split, but VIRTIO_F_RING_PACKED is in force/);
    expect(() => parseQueueState(fresh, 'q', { maxSize: 8, live: true, packed: false })).toThrowError(/^q\.layout: is packed, but VIRTIO_F_RING_PACKED is not in force$/);
    refused({ ...fresh, layout: 'ring' }, 'q.layout');
  });

  it('refuses wrap counters other than 0 and 1, positions past 2^15, and malformed in-flight lists', () => {
    refused({ ...inUse, availWrap: 2 }, 'q.availWrap');
    refused({ ...inUse, usedWrap: -1 }, 'q.usedWrap');
    refused({ ...inUse, usedWrap: true }, 'q.usedWrap');
    refused({ ...inUse, nextAvail: 32768 }, 'q.nextAvail', /^32768 is not an integer in \[0, 32767\]$/);
    refused({ ...inUse, nextUsed: 1.5 }, 'q.nextUsed');
    refused({ ...inUse, inFlight: {} }, 'q.inFlight');
    refused({ ...inUse, inFlight: Array.from({ length: 9 }, (_, i) => [i, 1]) }, 'q.inFlight', /more than 8/);
    refused(
      {
        ...inUse,
        inFlight: [
          [0, 2, 1],
          [4, 1],
        ],
      },
      'q.inFlight[0]',
    );
    refused({ ...inUse, inFlight: [[0], [4, 1]] }, 'q.inFlight[0]', /not an \[id, slots\] pair/);
    refused({ ...inUse, inFlight: [[8, 2]] }, 'q.inFlight[0][0]', /^8 is not an integer in \[0, 7\]$/);
    refused(
      {
        ...inUse,
        inFlight: [
          [0, 0],
          [4, 3],
        ],
      },
      'q.inFlight[0][1]',
    );
    refused({ ...inUse, inFlight: [[0, 9]] }, 'q.inFlight[0][1]');
  });

  it('names the field it refuses: the size, ready and each area', () => {
    for (const field of ['size', 'ready', 'descRing', 'driverEvent', 'deviceEvent']) refused({ ...fresh, [field]: 'x' }, `q.${field}`);
  });

  it('takes rings in use of every size from 1 to QueueNumMax', () => {
    const one = { ...inUse, size: 1, nextAvail: 0, availWrap: 0, nextUsed: 0, usedWrap: 1, inFlight: [[0, 1]] };
    expect(parse(one)).toEqual(one);
    const max = {
      ...inUse,
      size: 8,
      nextAvail: 1,
      availWrap: 1,
      nextUsed: 6,
      usedWrap: 0,
      inFlight: [
        [0, 2],
        [7, 1],
      ],
    };
    expect(parse(max)).toEqual(max);
  });

  it('keeps a ring fresh while the queue is not ready, and a ring in use inside its size', () => {
    refused({ ...inUse, ready: false }, 'q.ready', /fresh ring/);
    for (const change of [{ nextAvail: 1 }, { nextUsed: 1 }, { availWrap: 0 }, { usedWrap: 0 }, { inFlight: [[0, 1]] }]) refused({ ...fresh, ...change }, 'q.ready');
    refused({ ...inUse, size: 0 }, 'q.size', /a ring in use has size 0/, false);
    refused({ ...inUse, size: 9 }, 'q.size', undefined, false);
    refused({ ...inUse, nextAvail: 5 }, 'q.nextAvail', /slot 5 is outside a ring of 5/);
    refused({ ...inUse, nextUsed: 5 }, 'q.nextUsed', /slot 5 is outside a ring of 5/);
    refused(
      {
        ...inUse,
        inFlight: [
          [0, 2],
          [5, 1],
        ],
      },
      'q.inFlight[1][0]',
      /buffer id 5 is outside a ring of 5/,
    );
    refused(
      {
        ...inUse,
        inFlight: [
          [4, 1],
          [0, 2],
        ],
      },
      'q.inFlight[1][0]',
      /ascending/,
    );
    refused(
      {
        ...inUse,
        inFlight: [
          [0, 2],
          [0, 1],
        ],
      },
      'q.inFlight[1][0]',
      /ascending/,
    );
  });

  it('takes exactly the slots between the used and the available position, a lap further when the wrap counters differ', () => {
    refused({ ...inUse, inFlight: [[0, 2]] }, 'q.inFlight', /take 2 slots, but the positions leave 3 between them in a ring of 5/);
    refused(
      {
        ...inUse,
        inFlight: [
          [0, 2],
          [4, 2],
        ],
      },
      'q.inFlight',
      /take 4 slots, but the positions leave 3/,
    );
    // Same wrap counters: the available position cannot be behind the used one.
    refused({ ...inUse, availWrap: 1, inFlight: [] }, 'q.inFlight', /positions leave -2/);
    // A lap apart: it cannot be a whole lap or more ahead.
    refused(
      {
        ...inUse,
        nextAvail: 4,
        inFlight: [
          [0, 5],
          [1, 1],
        ],
      },
      'q.inFlight',
      /positions leave 6/,
    );
    expect(parse({ ...inUse, nextAvail: 3, availWrap: 1, inFlight: [] })).toMatchObject({ inFlight: [] });
  });

  it('on a live device: a ready queue has a size of 1 to QueueNumMax and aligned areas', () => {
    const live = { ...fresh, ready: true, size: 3, descRing: 0x1000, driverEvent: 0x1030, deviceEvent: 0x1034 };
    expect(parse(live)).toEqual(live);
    for (const size of [1, 8]) expect(parse({ ...live, size })).toEqual({ ...live, size });
    refused({ ...live, size: 9 }, 'q.size', /a ready queue of a live device has size 9, not 1 to 8/);
    refused({ ...live, size: 0 }, 'q.size');
    refused({ ...live, descRing: 0x1008 }, 'q.descRing', /not 16-byte aligned/);
    refused({ ...live, driverEvent: 0x1032 }, 'q.driverEvent', /not 4-byte aligned/);
    refused({ ...live, deviceEvent: 0x1036 }, 'q.deviceEvent', /not 4-byte aligned/);
    // Not live: activate() has not looked yet.
    expect(parse({ ...live, size: 9, descRing: 0x1008 }, false)).toMatchObject({ size: 9 });
  });
});

// ---- a balloon over packed rings ----

const OPTIONS = { statsQueue: true, freePageHint: true, packedRing: true } as const;
type Json = Record<string, unknown>;

/** A live balloon over packed rings holding the driver's stats buffer, after an inflate of two pages. */
function live(): { device: BalloonDevice; memory: FlatMemory; driver: MmioDriver; queues: Array<PackedDriverQueue<number>> } {
  const memory = new FlatMemory(16 << 20);
  const device = new BalloonDevice(memory, OPTIONS);
  const driver = new MmioDriver(new MmioTransport(device), memory);
  expect(driver.negotiate(bits(OPTIONS) | featureBit(Feature.RING_PACKED))).toBeDefined();
  const queues = [0, 1, 2, 3].map((i) => driver.setupPackedQueue<number>(i, layoutPackedRing(0x10000 + i * 0x1000, 5)));
  driver.driverOk();
  memory.writeU32(BUF, 0x300);
  memory.writeU32(BUF + 4, 0x301);
  queues[0]!.add([{ gpa: BUF, length: 8 }], [], 1);
  driver.kick(0, queues[0]!);
  memory.writeU16(BUF + 512, 4);
  queues[2]!.add([{ gpa: BUF + 512, length: 10 }], [], 2);
  driver.kick(2, queues[2]!);
  return { device, memory, driver, queues };
}

function restoreEdited(edit: (state: Json & { core: Json & { queues: Json[] } }) => void): unknown {
  const state = JSON.parse(JSON.stringify(live().device.save())) as Json & { core: Json & { queues: Json[] } };
  edit(state);
  const destination = live().device;
  const before = JSON.stringify(destination.save());
  try {
    destination.restore(state);
  } catch (error) {
    expect(JSON.stringify(destination.save()), 'the destination changed').toBe(before);
    return error;
  }
  return undefined;
}

describe('a balloon over packed rings, saved and restored', () => {
  it('resumes where it stopped: the stats buffer it holds goes back to the driver at the right slot', () => {
    const source = live();
    const state = JSON.parse(JSON.stringify(source.device.save())) as Json & { core: { queues: PackedQueueState[] } };
    expect(state.core.queues.map((q) => q.layout)).toEqual(['packed', 'packed', 'packed', 'packed']);
    expect(state.core.queues[2]).toMatchObject({ nextAvail: 1, nextUsed: 0, inFlight: [[0, 1]] });
    expect(state['statsHead']).toBe(0);
    // The destination runs on the same guest memory, as after a migration.
    const destination = new BalloonDevice(source.memory, OPTIONS);
    destination.restore(state);
    expect(destination.save().core.queues).toEqual(source.device.save().core.queues);
    expect(destination.requestStats()).toBe(true);
    expect(source.queues[2]!.getUsed()).toEqual({ token: 2, len: 0 });
    expect(destination.inflatedPages).toBe(2);
  });

  it('refuses a held stats buffer the packed ring does not have in flight, and buffers a live balloon cannot hold', () => {
    let error = restoreEdited((s) => (s['statsHead'] = 1));
    expect(error).toBeInstanceOf(StateError);
    expect(error).toMatchObject({ field: 'statsHead', reason: 'buffer 1 is not in flight on the packed stats queue' });
    error = restoreEdited((s) => delete s['statsHead']);
    expect(error).toMatchObject({ field: 'core.queues[2].inFlight', reason: 'a live balloon holds no buffer here, not 1' });
    error = restoreEdited((s) => Object.assign(s.core.queues[0]!, { nextAvail: 2, inFlight: [[0, 1]] }));
    expect(error).toMatchObject({ field: 'core.queues[0].inFlight', reason: 'a live balloon holds no buffer here, not 1' });
    error = restoreEdited((s) =>
      Object.assign(s.core.queues[2]!, {
        nextAvail: 2,
        inFlight: [
          [0, 1],
          [3, 1],
        ],
      }),
    );
    expect(error).toMatchObject({ field: 'core.queues[2].inFlight', reason: 'a live balloon holds only the stats buffer here, not 2' });
  });

  it('lets a balloon in NEEDS_RESET keep the buffer it was serving when it failed', () => {
    const r = live();
    // A malformed inflate buffer (3 bytes) is taken and never returned (the driver holds id 0 still).
    r.queues[0]!.add([{ gpa: BUF, length: 3 }], [], 3);
    r.driver.kick(0, r.queues[0]!);
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
    const state = JSON.parse(JSON.stringify(r.device.save())) as { core: { queues: PackedQueueState[] } };
    expect(state.core.queues[0]!.inFlight).toEqual([[1, 1]]);
    const twin = new BalloonDevice(new FlatMemory(16 << 20), OPTIONS);
    twin.restore(state);
    expect(twin.save().core.queues).toEqual(r.device.save().core.queues);
    expect(twin.needsResetReason?.kind).toBe('bad-buffer');
  });

  it('refuses split queues where the features make packed ones', () => {
    const error = restoreEdited((s) => (s.core.queues[1]!['layout'] = 'split'));
    expect(error).toMatchObject({ field: 'core.queues[1].layout' });
  });
});
