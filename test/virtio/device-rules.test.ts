import { describe, expect, it } from 'vitest';
import { DriverQueue, layoutRing, type RingLayout } from '../../src/guest/driver-queue.js';
import { FlatMemory } from '../../src/memory/flat-memory.js';
import type { GuestMemory } from '../../src/memory/guest-memory.js';
import { Feature, Status, featureBit, hasFeature } from '../../src/virtio/constants.js';
import { VirtioDevice, type InterruptEvent } from '../../src/virtio/device.js';
import { VirtioError } from '../../src/virtio/errors.js';

// The device-independent rules of virtio 1.2 §2–§3 (status, features, config access, queues,
// NEEDS_RESET), checked on a probe device whose handlers record what the core asked of them.

/** Device-specific bit 0 of the probe: a third queue exists when it is in force. */
const EXTRA = 0;
const ACK = Status.ACKNOWLEDGE;
const DRV = Status.DRIVER;
const FOK = Status.FEATURES_OK;
const DOK = Status.DRIVER_OK;
const V1 = featureBit(Feature.VERSION_1);

class ProbeDevice extends VirtioDevice {
  readonly deviceId = 0xfd;
  /** Queue indices processQueue was called for, in order. */
  readonly served: number[] = [];
  /** Every config access that reached the device type. */
  readonly configCalls: Array<[op: 'read' | 'write', offset: number, size: number]> = [];
  scratch = 0;
  driverOkCalls = 0;
  /** What serving a queue does; default: return every chain with len 0. */
  onServe: (index: number) => void = (index) => this.drain(index);
  onConfigWrite: () => void = () => {};

  constructor(memory: GuestMemory, features = featureBit(EXTRA)) {
    super(memory, features);
    this.init();
  }

  get configSize(): number {
    return 8;
  }

  protected queueSizes(features: bigint): readonly number[] {
    return hasFeature(features, EXTRA) ? [8, 8, 4] : [8, 8];
  }

  protected readConfigField(offset: number, size: number): number {
    this.configCalls.push(['read', offset, size]);
    const v = new DataView(new ArrayBuffer(8));
    v.setUint32(0, 0x11223344, true);
    v.setUint32(4, this.scratch, true);
    return size === 1 ? v.getUint8(offset) : size === 2 ? v.getUint16(offset, true) : v.getUint32(offset, true);
  }

  protected writeConfigField(offset: number, size: number, value: number): boolean {
    this.configCalls.push(['write', offset, size]);
    this.onConfigWrite();
    if (offset !== 4 || size !== 4) return false;
    this.scratch = value;
    return true;
  }

  protected processQueue(index: number): void {
    this.served.push(index);
    this.onServe(index);
  }

  protected override onDriverOk(): void {
    this.driverOkCalls++;
  }

  protected onReset(): void {
    this.scratch = 0;
  }

  drain(index: number): void {
    const q = this.queues[index]!;
    for (let c = q.pop(); c !== undefined; c = q.pop()) q.push(c.head, 0);
  }

  /** Serve through nextChain, calling `each` after every chain it returns. */
  drainBudgeted(index: number, each: () => void): void {
    const q = this.queues[index]!;
    for (let c = this.nextChain(index); c !== undefined; c = this.nextChain(index)) {
      q.push(c.head, 0);
      each();
    }
  }

  /** The protected helper, for a device type that signals a queue by index. */
  signal(index: number): void {
    this.signalUsed(index);
  }
}

const LAYOUTS: readonly RingLayout[] = [layoutRing(0x1000, 8), layoutRing(0x2000, 8), layoutRing(0x3000, 4)];

interface Rig {
  memory: FlatMemory;
  device: ProbeDevice;
  interrupts: InterruptEvent[];
  errors: VirtioError[];
}

function rig(offered = featureBit(EXTRA)): Rig {
  const memory = new FlatMemory(1 << 20);
  const device = new ProbeDevice(memory, offered);
  const interrupts: InterruptEvent[] = [];
  const errors: VirtioError[] = [];
  device.interrupt$.subscribe((e) => interrupts.push(e));
  device.errors$.subscribe((e) => errors.push(e));
  return { memory, device, interrupts, errors };
}

/** ACKNOWLEDGE, DRIVER, write `features` in two windows, FEATURES_OK (§3.1.1). */
function negotiate(d: VirtioDevice, features = V1): void {
  d.writeStatus(d.status | ACK);
  d.writeStatus(d.status | DRV);
  d.writeDriverFeatures(0, Number(features & 0xffffffffn));
  d.writeDriverFeatures(1, Number((features >> 32n) & 0xffffffffn));
  d.writeStatus(ACK | DRV | FOK);
}

/** Give queue `index` the ring at LAYOUTS[index] and enable it, as a transport would. */
function setupQueue(r: Rig, index: number, ready = true): DriverQueue<number> {
  const layout = LAYOUTS[index]!;
  const driverSide = new DriverQueue<number>(r.memory, layout);
  const q = r.device.queues[index]!;
  q.size = layout.size;
  q.descTable = layout.descTable;
  q.availRing = layout.availRing;
  q.usedRing = layout.usedRing;
  if (ready) r.device.setQueueReady(index, true);
  return driverSide;
}

/** Put one 4-byte device-readable buffer on a queue (no kick). */
function addBuffer(q: DriverQueue<number>, token: number): void {
  expect(q.add([{ gpa: 0x8000, length: 4 }], [], token)).toBe(true);
}

function live(r: Rig, features = V1): DriverQueue<number> {
  negotiate(r.device, features);
  const q = setupQueue(r, 0);
  r.device.writeStatus(ACK | DRV | FOK | DOK);
  expect(r.device.isLive).toBe(true);
  return q;
}

describe('feature windows (§2.2, §4.2.2 DeviceFeaturesSel / DriverFeaturesSel)', () => {
  it('builds the queues of every offered feature before negotiation, then follows what was accepted', () => {
    const r = rig();
    expect(r.device.queues.map((q) => q.maxSize)).toEqual([8, 8, 4]);
    negotiate(r.device, V1);
    expect(r.device.queues.map((q) => q.maxSize)).toEqual([8, 8]);
    const s = rig();
    negotiate(s.device, V1 | featureBit(EXTRA));
    expect(s.device.queues.map((q) => q.maxSize)).toEqual([8, 8, 4]);
  });

  it('reads back what the driver wrote, window by window, up to select 3', () => {
    const { device } = rig();
    device.writeStatus(ACK | DRV);
    device.writeDriverFeatures(0, 0x5);
    device.writeDriverFeatures(3, 0xdeadbeef);
    expect(device.readDriverFeatures(0)).toBe(0x5);
    expect(device.readDriverFeatures(3)).toBe(0xdeadbeef);
    expect(device.driverFeatures).toBe((0xdeadbeefn << 96n) | 0x5n);
    expect(device.counters.refusedFeatures).toBe(0);
  });

  it('refuses and counts driver feature writes outside windows 0–3', () => {
    const { device } = rig();
    device.writeDriverFeatures(0, 1);
    device.writeDriverFeatures(4, 0xffffffff);
    device.writeDriverFeatures(-1, 0xffffffff);
    expect(device.counters.refusedFeatures).toBe(2);
    expect(device.driverFeatures).toBe(1n);
  });

  it('reads 0 for a window select that is not an integer in 0–3', () => {
    const { device } = rig();
    device.writeDriverFeatures(1, 0xffffffff);
    expect(device.readDeviceFeatures(0)).toBe(1); // EXTRA (bit 0)
    expect(device.readDeviceFeatures(1)).toBe(1); // VERSION_1 (bit 32)
    for (const select of [1.5, 0.3, -1, 4, Number.NaN]) {
      expect(device.readDriverFeatures(select)).toBe(0);
      expect(device.readDeviceFeatures(select)).toBe(0);
    }
  });

  it('refuses FEATURES_OK for an unoffered bit, and then DRIVER_OK is a status error', () => {
    const r = rig();
    negotiate(r.device, V1 | featureBit(Feature.RING_PACKED));
    expect(r.device.status).toBe(ACK | DRV);
    expect(r.device.counters.refusedFeatures).toBe(1);
    expect(r.device.negotiatedFeatures).toBe(0n);
    r.device.writeStatus(ACK | DRV | DOK);
    const reason = r.device.needsResetReason;
    expect(reason?.kind).toBe('bad-status-transition');
    expect(reason?.message).toMatch(/DRIVER_OK.*FEATURES_OK/);
  });
});

describe('status transitions (§2.1)', () => {
  it('names the status values in the error when the driver clears a bit', () => {
    const r = rig();
    r.device.writeStatus(ACK | DRV);
    r.device.writeStatus(ACK);
    expect(r.device.needsResetReason?.kind).toBe('bad-status-transition');
    expect(r.device.needsResetReason?.message).toMatch(/0x1\b.*clears bits of 0x3\b/);
  });

  it('sends no config interrupt and keeps the config generation for an error before DRIVER_OK', () => {
    const r = rig();
    r.device.writeStatus(ACK | DRV);
    r.device.writeStatus(ACK);
    expect(r.device.status & Status.DEVICE_NEEDS_RESET).toBe(Status.DEVICE_NEEDS_RESET);
    expect(r.device.needsResetReason?.kind).toBe('bad-status-transition');
    expect(r.interrupts).toEqual([]);
    expect(r.device.configGeneration).toBe(0);
    expect(r.errors.map((e) => e.kind)).toEqual(['bad-status-transition']);
  });

  it('keeps the first reason: a second guest error in NEEDS_RESET is not reported again', () => {
    const r = rig();
    live(r);
    r.device.onConfigWrite = () => {
      throw new VirtioError('bad-value', 'first');
    };
    r.device.writeConfig(4, 4, 1);
    expect([r.device.needsResetReason?.kind, r.device.needsResetReason?.message]).toEqual(['bad-value', 'first']);
    expect(r.interrupts).toEqual([{ kind: 'config' }]);
    const generation = r.device.configGeneration;
    expect(generation).toBe(1);
    r.device.onConfigWrite = () => {
      throw new VirtioError('bad-buffer', 'second');
    };
    r.device.writeConfig(4, 4, 2);
    expect([r.device.needsResetReason?.kind, r.device.needsResetReason?.message]).toEqual(['bad-value', 'first']);
    expect(r.errors.map((e) => e.message)).toEqual(['first']);
    expect(r.device.configGeneration).toBe(generation);
    expect(r.interrupts).toEqual([{ kind: 'config' }]);
    // Neither write took effect.
    expect(r.device.counters.ignoredConfigWrites).toBe(2);
    expect(r.device.scratch).toBe(0);
  });

  it('ignores further steps in NEEDS_RESET, but accepts FAILED', () => {
    const r = rig();
    negotiate(r.device);
    setupQueue(r, 0);
    r.device.notify(0);
    r.device.onConfigWrite = () => {
      throw new VirtioError('bad-value', 'broken');
    };
    r.device.writeConfig(4, 4, 1);
    const stuck = ACK | DRV | FOK | Status.DEVICE_NEEDS_RESET;
    expect(r.device.status).toBe(stuck);
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.status).toBe(stuck);
    expect(r.device.driverOkCalls).toBe(0);
    expect(r.device.served).toEqual([]);
    r.device.writeStatus(ACK | DRV | FOK | Status.FAILED);
    expect(r.device.status).toBe(stuck | Status.FAILED);
    expect([r.device.needsResetReason?.kind, r.device.needsResetReason?.message]).toEqual(['bad-value', 'broken']);
  });

  it('after FAILED only a reset helps: other writes are ignored, not errors', () => {
    const r = rig();
    r.device.writeStatus(ACK | DRV | Status.FAILED);
    r.device.writeStatus(ACK | DRV);
    r.device.writeStatus(ACK);
    expect(r.device.status).toBe(ACK | DRV | Status.FAILED);
    expect(r.device.needsResetReason).toBeUndefined();
    r.device.notify(0);
    expect(r.device.counters.ignoredNotifies).toBe(1);
    r.device.writeStatus(0);
    expect(r.device.status).toBe(0);
  });
});

describe('notifications (§2.7.13, §3.1.1)', () => {
  it('ignores and counts kicks for queues that do not exist, without throwing', () => {
    const r = rig();
    live(r);
    expect(r.device.queues).toHaveLength(2);
    for (const index of [2, 3, -1, 1.5, Number.NaN]) r.device.notify(index);
    expect(r.device.counters.ignoredNotifies).toBe(5);
    expect(r.device.served).toEqual([]);
  });

  it('ignores and counts a kick for a queue that is not ready (§4.2.2.2)', () => {
    const r = rig();
    const q = live(r);
    addBuffer(q, 1);
    r.device.notify(1);
    expect(r.device.counters.ignoredNotifies).toBe(1);
    expect(r.device.served).toEqual([]);
    r.device.notify(0);
    expect(r.device.served).toEqual([0]);
    expect(q.getUsed()?.token).toBe(1);
  });

  it('serves kicks from before DRIVER_OK once live, lowest queue first', () => {
    const r = rig();
    negotiate(r.device, V1 | featureBit(EXTRA));
    for (const i of [0, 1, 2]) setupQueue(r, i);
    for (const i of [2, 0, 1, 2]) r.device.notify(i);
    expect(r.device.served).toEqual([]);
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.served).toEqual([0, 1, 2]);
    expect(r.device.driverOkCalls).toBe(1);
  });

  it('does not serve an early kick for a queue the driver never enabled', () => {
    const r = rig();
    negotiate(r.device);
    setupQueue(r, 0);
    setupQueue(r, 1, false);
    r.device.notify(1);
    r.device.notify(0);
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.served).toEqual([0]);
  });

  it('stops serving early kicks once one of them put the device in NEEDS_RESET', () => {
    const r = rig();
    negotiate(r.device);
    setupQueue(r, 0);
    setupQueue(r, 1);
    r.device.onServe = (index) => {
      if (index === 0) throw new VirtioError('bad-buffer', 'queue 0 is broken');
    };
    r.device.notify(1);
    r.device.notify(0);
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.served).toEqual([0]);
    expect(r.device.needsResetReason?.kind).toBe('bad-buffer');
  });

  it('forgets an early kick for a queue that negotiation took away', () => {
    const r = rig();
    r.device.writeStatus(ACK | DRV);
    r.device.notify(2); // queue 2 exists while EXTRA is only offered
    negotiate(r.device, V1);
    setupQueue(r, 0);
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.needsResetReason).toBeUndefined();
    expect(r.device.isLive).toBe(true);
    expect(r.device.served).toEqual([]);
  });
});

describe('QueueReady (§4.2.2.2)', () => {
  it('ignores a missing queue', () => {
    const r = rig();
    live(r);
    expect(() => r.device.setQueueReady(9, true)).not.toThrow();
    expect(r.device.needsResetReason).toBeUndefined();
  });

  it('does not check the layout of a queue being disabled, nor of one never enabled', () => {
    const r = rig();
    negotiate(r.device);
    setupQueue(r, 0);
    r.device.queues[1]!.descTable = 0x1008; // misaligned, but the queue is not in use
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.needsResetReason).toBeUndefined();
    r.device.setQueueReady(1, false);
    expect(r.device.needsResetReason).toBeUndefined();
    expect(r.device.isLive).toBe(true);
  });

  it('checks the layout at once when a queue is enabled on a live device', () => {
    const r = rig();
    live(r);
    r.device.queues[1]!.descTable = 0x1008;
    r.device.setQueueReady(1, true);
    expect(r.device.needsResetReason?.kind).toBe('ring-misaligned');
  });
});

describe('config space access (§2.5, §4.2.2.2)', () => {
  it('passes only 1, 2 and 4-byte accesses inside the config space to the device type', () => {
    const { device } = rig();
    device.scratch = 0xaabbccdd;
    expect(device.readConfig(0, 4)).toBe(0x11223344);
    expect(device.readConfig(4, 4)).toBe(0xaabbccdd);
    expect(device.readConfig(6, 2)).toBe(0xaabb);
    expect(device.readConfig(7, 1)).toBe(0xaa);
    const valid = device.configCalls.length;
    for (const [offset, size] of [
      [8, 1],
      [5, 4],
      [0, 3],
      [0, 8],
      [-1, 1],
      [1.5, 1],
      [Number.NaN, 4],
    ] as const) {
      expect(device.readConfig(offset, size)).toBe(0);
    }
    expect(device.configCalls).toHaveLength(valid);
  });

  it('counts writes outside the config space, and writes the device type refused, as ignored', () => {
    const { device } = rig();
    device.writeConfig(4, 4, 7);
    expect(device.scratch).toBe(7);
    expect(device.counters.ignoredConfigWrites).toBe(0);
    device.writeConfig(6, 4, 9); // runs past the 8-byte config
    device.writeConfig(-4, 4, 9);
    expect(device.configCalls).toEqual([['write', 4, 4]]);
    expect(device.counters.ignoredConfigWrites).toBe(2);
    device.writeConfig(0, 4, 9); // in range, read-only field
    expect(device.counters.ignoredConfigWrites).toBe(3);
    expect(device.scratch).toBe(7);
  });
});

describe('guest errors become typed NEEDS_RESET reasons (I6)', () => {
  it('maps a 64-bit value past 2^53 read by a handler to bad-value, with the memory error text', () => {
    const r = rig();
    const q = live(r);
    r.memory.writeU32(0x9000, 0xffffffff);
    r.memory.writeU32(0x9004, 0xffffffff);
    r.device.onServe = () => void r.memory.readU64(0x9000);
    addBuffer(q, 1);
    r.device.notify(0);
    expect(r.device.needsResetReason?.kind).toBe('bad-value');
    expect(r.device.needsResetReason?.message).toMatch(/0x9000.*2\^53/);
  });

  it('maps a handler access outside RAM to buffer-out-of-range', () => {
    const r = rig();
    live(r);
    r.device.onServe = () => void r.memory.readU32(r.memory.end);
    r.device.notify(0);
    expect(r.device.needsResetReason?.kind).toBe('buffer-out-of-range');
    expect(r.device.needsResetReason?.message).toContain(`0x${r.memory.end.toString(16)}`);
  });

  it('reports a fault of the device itself as internal, keeping the original error', () => {
    const r = rig();
    live(r);
    const boom = new TypeError('boom');
    r.device.onServe = () => {
      throw boom;
    };
    r.device.notify(0);
    expect(r.device.needsResetReason?.kind).toBe('internal');
    expect(r.device.needsResetReason?.message).toBe('internal error: boom');
    expect(r.device.needsResetReason?.cause).toBe(boom);

    const s = rig();
    live(s);
    s.device.onServe = () => {
      throw 'plain text'; // not an Error: a buggy handler can throw anything
    };
    s.device.notify(0);
    expect([s.device.needsResetReason?.kind, s.device.needsResetReason?.message]).toEqual(['internal', 'internal error: plain text']);
  });
});

describe('interrupts', () => {
  it('ignores a used signal for a queue that does not exist', () => {
    const r = rig();
    live(r);
    r.device.signal(7);
    expect(r.interrupts).toEqual([]);
    expect(r.device.interruptStatus).toBe(0);
  });

  it('moves the interrupt line only when the level changes', () => {
    const r = rig();
    const levels: boolean[] = [];
    r.device.irqLevel$.subscribe((l) => levels.push(l));
    const q = live(r);
    addBuffer(q, 1);
    r.device.notify(0);
    addBuffer(q, 2);
    r.device.notify(0);
    expect(r.interrupts).toEqual([
      { kind: 'used', queue: 0 },
      { kind: 'used', queue: 0 },
    ]);
    expect(levels).toEqual([false, true]);
    r.device.ackInterrupt(1);
    r.device.ackInterrupt(1);
    expect(levels).toEqual([false, true, false]);
  });
});

describe('save and restore', () => {
  it('does not make a device live that was saved before DRIVER_OK', () => {
    const r = rig();
    negotiate(r.device);
    setupQueue(r, 0);
    const state = r.device.saveCore();
    const twin = new ProbeDevice(r.memory);
    twin.restoreCore(state);
    expect(twin.status).toBe(ACK | DRV | FOK);
    expect(twin.isLive).toBe(false);
  });

  it('re-checks that the ready queues of a live state lie in this RAM (NEEDS_RESET if not), and only those', () => {
    const r = rig();
    live(r);
    const state = r.device.saveCore();
    const outside = { ...state, queues: state.queues.map((q, i) => (i === 0 ? { ...q, descTable: 0x1_0000_0000 } : q)) };
    const twin = new ProbeDevice(r.memory);
    twin.restoreCore(outside);
    expect(twin.needsResetReason?.kind).toBe('ring-out-of-range');

    const idle = { ...state, queues: state.queues.map((q, i) => (i === 1 ? { ...q, ready: false, descTable: 0x1_0000_0008 } : q)) };
    const other = new ProbeDevice(r.memory);
    other.restoreCore(idle);
    expect(other.needsResetReason).toBeUndefined();
    expect(other.isLive).toBe(true);
  });

  it('refuses a ready queue of a live state that activate() would have refused: a bad size or a misaligned area', () => {
    const r = rig();
    live(r);
    const state = r.device.saveCore();
    const twin = new ProbeDevice(r.memory);
    const misaligned = { ...state, queues: state.queues.map((q, i) => (i === 0 ? { ...q, descTable: 0x1008 } : q)) };
    expect(() => twin.restoreCore(misaligned)).toThrowError(expect.objectContaining({ name: 'StateError', field: 'queues[0].descTable' }) as Error);
    const oddSize = { ...state, queues: state.queues.map((q, i) => (i === 0 ? { ...q, size: 3 } : q)) };
    expect(() => twin.restoreCore(oddSize)).toThrowError(expect.objectContaining({ name: 'StateError', field: 'queues[0].size' }) as Error);
    // A queue that is not ready holds whatever the driver wrote.
    twin.restoreCore({ ...state, queues: state.queues.map((q, i) => (i === 1 ? { ...q, size: 3, descTable: 0x1008 } : q)) });
    expect(twin.queues[1]!.size).toBe(3);
  });

  it('refuses saved queues that are not the queues the features in force make', () => {
    const r = rig();
    r.device.writeStatus(ACK | DRV);
    r.device.queues[0]!.size = 4;
    const state = r.device.saveCore();
    expect(state.queues).toHaveLength(3);
    // A destination that does not offer the third queue's feature is another device.
    const twin = new ProbeDevice(r.memory, 0n);
    expect(() => twin.restoreCore(state)).toThrowError(expect.objectContaining({ name: 'StateError', field: 'queues' }) as Error);
    const same = new ProbeDevice(r.memory);
    same.restoreCore(state);
    expect(same.queues.map((q) => q.size)).toEqual([4, 8, 4]);
  });
});

describe('serving stops at once when the device stops being able to serve', () => {
  it('takes no chain after a host reset, or NEEDS_RESET, that happened while it served', () => {
    for (const stop of ['reset', 'needs-reset'] as const) {
      const r = rig();
      const q = live(r);
      for (let t = 0; t < 4; t++) addBuffer(q, t);
      // A ring at address 0 too, where a queue that a reset rebuilt would point: chains there.
      r.memory.writeU16(2, 4);
      let taken = 0;
      r.device.onServe = (index) =>
        r.device.drainBudgeted(index, () => {
          if (++taken === 2) stop === 'reset' ? r.device.reset() : r.device.writeStatus(ACK);
        });
      r.device.notify(0);
      expect(taken, stop).toBe(2);
    }
  });

  it('does not check the rings of a state restored before DRIVER_OK (DRIVER_OK will)', () => {
    const r = rig();
    negotiate(r.device);
    setupQueue(r, 0);
    const state = r.device.saveCore();
    const odd = { ...state, queues: state.queues.map((q, i) => (i === 0 ? { ...q, size: 3 } : q)) };
    const twin = new ProbeDevice(r.memory);
    twin.restoreCore(odd);
    expect(twin.needsResetReason).toBeUndefined();
    twin.writeStatus(ACK | DRV | FOK | DOK);
    expect(twin.needsResetReason?.kind).toBe('bad-queue-size');
  });

  it('saves pending kicks in index order and the NEEDS_RESET reason, and restores both', () => {
    const r = rig();
    negotiate(r.device, V1 | featureBit(EXTRA));
    for (const index of [2, 0]) {
      setupQueue(r, index);
      r.device.notify(index);
    }
    expect(r.device.saveCore().pendingKicks).toEqual([0, 2]);
    r.device.writeStatus(ACK);
    const state = r.device.saveCore();
    expect(state.needsReset).toEqual({ kind: 'bad-status-transition', message: 'status write 0x1 clears bits of 0xb' });
    const twin = new ProbeDevice(r.memory);
    twin.restoreCore(JSON.parse(JSON.stringify(state)));
    expect([twin.needsResetReason?.kind, twin.needsResetReason?.message]).toEqual(['bad-status-transition', 'status write 0x1 clears bits of 0xb']);
    expect(twin.saveCore()).toEqual(state);
  });

  it('keeps a kick made before DRIVER_OK through a redundant QueueReady 0, and drops it when the queue is taken down', () => {
    const r = rig();
    negotiate(r.device);
    r.device.notify(1); // not set up yet
    r.device.setQueueReady(1, false);
    const q = setupQueue(r, 1);
    addBuffer(q, 1);
    r.device.notify(0);
    setupQueue(r, 0);
    r.device.setQueueReady(0, false);
    r.device.writeStatus(ACK | DRV | FOK | DOK);
    expect(r.device.served).toEqual([1]);
  });
});

describe('a saved reason', () => {
  it('keeps a line of a long internal message, not all of it', () => {
    const r = rig();
    live(r);
    r.device.onServe = () => {
      throw new Error('x'.repeat(5000));
    };
    r.device.notify(0);
    expect(r.device.needsResetReason?.message.length).toBeGreaterThan(1024);
    expect(r.device.saveCore().needsReset?.message).toBe(`internal error: ${'x'.repeat(1024 - 'internal error: '.length)}`);
  });
});
